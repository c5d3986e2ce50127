"""The array operations the reference semantics is written in, for torch and for NumPy.

The reference evaluates a definition one primitive at a time on arrays of shape (B, H, rows, cols);
each method below is one obviously-right line of the library.  Torch is the authority where it is
installed (autograd through it gives the reference gradients); NumPy evaluates the same definition
where it is not, and gradients are then checked by central finite differences.
"""
from __future__ import annotations

import math

import numpy as np

from derive.scalar_functions import SCALAR_FUNCTIONS


class TorchArrays:
    """The reference's operations on torch tensors."""

    name = "torch"

    def __init__(self):
        import torch

        self.torch = torch
        self.float64 = torch.float64

    def is_array(self, v) -> bool:
        return self.torch.is_tensor(v)

    def is_float(self, a) -> bool:
        return a.is_floating_point()

    def ones(self, shape, dtype):
        return self.torch.ones(*shape, dtype=dtype)

    def zeros(self, shape, dtype):
        return self.torch.zeros(*shape, dtype=dtype)

    def full_like(self, like, value):
        return self.torch.full_like(like, value)

    def arange(self, n):
        return self.torch.arange(n, dtype=self.torch.float64)

    def cast(self, a, dtype):
        return a.to(dtype)

    def mT(self, a):
        return a.mT

    def sum(self, a, axis):
        return a.sum(axis, keepdim=True)

    def upper(self, n, m):
        return self.torch.ones(n, m, dtype=self.torch.bool).triu(1)

    def where(self, mask, yes, no):
        return self.torch.where(mask, yes, no)

    def fill(self, a, mask, value):
        return a.masked_fill(mask, value)

    def softmax(self, a):
        return self.torch.softmax(a, dim=-1)

    def logsumexp(self, a):
        return self.torch.logsumexp(a, dim=-1, keepdim=True)

    def concat(self, parts):
        return self.torch.cat(parts, dim=-1)

    def expand(self, a, shape):
        return a.expand(*shape)

    def take_rows(self, table, index):
        """Row index[..., t] of table for each t: (B, H, V, d), (B, H, n, 1) → (B, H, n, d)."""
        return self.torch.gather(table, 2, index.expand(-1, -1, -1, table.shape[-1]))

    def take_last(self, z, t):
        return self.torch.gather(z, -1, t)

    def functions(self) -> dict:
        t = self.torch
        table = {s.name: getattr(t, s.torch) for s in SCALAR_FUNCTIONS.values()}
        return table | {"maximum": t.maximum, "minimum": t.minimum}

    def compare(self, op: str, a, b):
        return getattr(self.torch, op)(a, b)

    def power(self, base, exponent, like):
        if not self.torch.is_tensor(base):
            base = self.torch.as_tensor(base, dtype=like.dtype)
        return base ** exponent

    def all_true(self, like):
        return self.torch.ones_like(like, dtype=self.torch.bool)

    def all_false(self, like):
        return self.torch.zeros_like(like, dtype=self.torch.bool)

    def as_dtype(self, a, like):
        return a.to(like.dtype)


class NumpyArrays:
    """The same operations on NumPy arrays (no autograd: gradients by finite differences)."""

    name = "numpy"
    float64 = np.float64

    def is_array(self, v) -> bool:
        return isinstance(v, np.ndarray)

    def is_float(self, a) -> bool:
        return np.issubdtype(a.dtype, np.floating)

    def ones(self, shape, dtype):
        return np.ones(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def full_like(self, like, value):
        return np.full_like(like, value)

    def arange(self, n):
        return np.arange(n, dtype=np.float64)

    def cast(self, a, dtype):
        return a.astype(dtype)

    def mT(self, a):
        return a.swapaxes(-1, -2)

    def sum(self, a, axis):
        return a.sum(axis=axis, keepdims=True)

    def upper(self, n, m):
        return np.triu(np.ones((n, m), dtype=bool), 1)

    def where(self, mask, yes, no):
        return np.where(mask, yes, no)

    def fill(self, a, mask, value):
        return np.where(mask, value, a)

    def softmax(self, a):
        shifted = a - a.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=-1, keepdims=True)

    def logsumexp(self, a):
        m = a.max(axis=-1, keepdims=True)
        return m + np.log(np.exp(a - m).sum(axis=-1, keepdims=True))

    def concat(self, parts):
        return np.concatenate(parts, axis=-1)

    def expand(self, a, shape):
        return np.broadcast_to(a, tuple(n if n != -1 else a.shape[i] for i, n in enumerate(shape)))

    def take_rows(self, table, index):
        index = np.broadcast_to(index, index.shape[:-1] + (table.shape[-1],))
        return np.take_along_axis(table, index, axis=2)

    def take_last(self, z, t):
        return np.take_along_axis(z, t, axis=-1)

    def functions(self) -> dict:
        per_entry = {"erf": np.vectorize(math.erf, otypes=[np.float64])}  # no ufunc: math's, per entry
        table = {s.name: getattr(np, s.numpy) if s.numpy else per_entry[s.name] for s in SCALAR_FUNCTIONS.values()}
        return table | {"maximum": np.maximum, "minimum": np.minimum}

    def compare(self, op: str, a, b):
        return {"gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal, "eq": np.equal,
                "ne": np.not_equal}[op](a, b)

    def power(self, base, exponent, like):
        return np.power(np.asarray(base, dtype=like.dtype), exponent)

    def all_true(self, like):
        return np.ones(like.shape, dtype=bool)

    def all_false(self, like):
        return np.zeros(like.shape, dtype=bool)

    def as_dtype(self, a, like):
        return np.asarray(a).astype(like.dtype)


def torch_installed() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def arrays_for(value) -> TorchArrays | NumpyArrays:
    """The operations for ``value``'s library."""
    return NumpyArrays() if isinstance(value, np.ndarray) else TorchArrays()
