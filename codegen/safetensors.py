"""Reading and writing the safetensors format: a JSON header and raw little-endian arrays.

No pickle anywhere: loading a checkpoint parses JSON and copies bytes, it never
runs code.  Format: 8-byte little-endian header length, the UTF-8 JSON header
({name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}), the data.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "BOOL": np.bool_}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def save(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (sorted by name) and string ``metadata`` to ``path``."""
    header: dict = {"__metadata__": dict(metadata or {})} if metadata else {}
    chunks, offset = [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        if array.dtype not in NAMES:
            raise ValueError(f"{name}: dtype {array.dtype} has no safetensors name")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in chunks:
            f.write(data)


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors and metadata of a safetensors file."""
    blob = Path(path).read_bytes()
    if len(blob) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (size,) = struct.unpack("<Q", blob[:8])
    if 8 + size > len(blob):
        raise ValueError(f"{path}: not a safetensors file (header length {size} past the end)")
    header = json.loads(blob[8:8 + size])
    metadata = header.pop("__metadata__", {})
    data = memoryview(blob)[8 + size:]
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        dtype = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"]).copy()
    return tensors, metadata
