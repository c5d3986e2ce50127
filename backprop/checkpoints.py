"""Checkpoint files in the safetensors format, through the ``safetensors`` library.

The library is the format's reference implementation: it validates the header
(offsets, dtypes, coverage of the data) and never runs code.  Arrays are NumPy;
dtypes NumPy lacks (BF16, the float8 formats) are converted to float32 on load.
Files are written atomically: a failed write leaves the previous file whole.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from codegen.atomic import atomic_path


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read as one, said in one line naming the file."""


def save(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` and string ``metadata`` to ``path`` (atomically)."""
    arrays = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
    with atomic_path(path) as temp:
        try:
            safetensors.numpy.save_file(arrays, str(temp), metadata=dict(metadata or {}) or None)
        except safetensors.SafetensorError as e:  # the library's word for a failed write (a full disk, a size limit)
            raise OSError(f"{path}: could not write ({_reason(e)})") from None


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of a safetensors file; ``CheckpointError`` says what is wrong."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a safetensors file")
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safetensors.safe_open(str(path), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            dtypes = {name: f.get_slice(name).get_dtype() for name in f.keys()}
            tensors = {name: f.get_tensor(name) for name, dtype in dtypes.items() if dtype not in CONVERTED}
    except safetensors.SafetensorError as e:
        raise CheckpointError(f"{path}: not a valid safetensors file ({_reason(e)})") from None
    except (TypeError, ValueError) as e:  # a dtype NumPy cannot hold
        raise CheckpointError(f"{path}: {e}") from None
    if len(tensors) < len(dtypes):
        for name, info in safetensors.deserialize(path.read_bytes()):
            if dtypes[name] in CONVERTED:
                tensors[name] = CONVERTED[dtypes[name]](info["data"]).reshape(info["shape"])
    return {name: tensors[name] for name in sorted(tensors)}, metadata


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = text.removeprefix("Error while deserializing header: ")
    if "incomplete metadata" in text or "file not fully covered" in text:
        return "truncated: " + text
    return text


def _bf16(data: bytes) -> np.ndarray:
    """bfloat16 is the upper half of a float32."""
    return (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)


def _f8_e5m2(data: bytes) -> np.ndarray:
    """float8 E5M2 is the upper byte of a float16."""
    return (np.frombuffer(data, dtype=np.uint8).astype(np.uint16) << 8).view(np.float16).astype(np.float32)


def _f8_e4m3_table() -> np.ndarray:
    """The 256 values of float8 E4M3 (the ``fn`` variant: bias 7, no infinities, NaN at S.1111.111)."""
    bits = np.arange(256)
    sign = np.where(bits & 0x80, -1.0, 1.0)
    exponent, mantissa = (bits >> 3) & 0xF, bits & 0x7
    values = np.where(exponent == 0, mantissa / 8 * 2.0**-6, (1 + mantissa / 8) * 2.0 ** (exponent - 7.0))
    values = sign * values
    values[(bits & 0x7F) == 0x7F] = np.nan
    return values.astype(np.float32)


_E4M3 = _f8_e4m3_table()

#: safetensors dtypes NumPy has no type for → a conversion of the raw little-endian bytes to float32.
CONVERTED = {
    "BF16": _bf16,
    "F8_E5M2": _f8_e5m2,
    "F8_E4M3": lambda data: _E4M3[np.frombuffer(data, dtype=np.uint8)],
}
