"""derive: matrix-calculus reverse mode over SymPy matrix expressions.

Symbolic side only: this package never imports NumPy or torch.
"""
from .api import (
    REQUIRED,
    Component,
    DefinitionError,
    ShapeMismatch,
    T,
    add,
    batch_sum,
    causal_zero,
    cols,
    elementwise,
    first_rows,
    gather,
    hadamard,
    head_sum,
    index_slice,
    logsumexp,
    matmul,
    merge_heads,
    softmax,
    split_heads,
    pick,
    pointwise,
    prefix_sum,
    rotary_angles,
    rotate_half,
    row_contract,
    row_outer,
    row_mean,
    row_sum,
    rows,
    scale,
    share_heads,
    sub,
    token_sum,
    top_k_mask,
    x,
)
from .declare import DeclarationError, define_primitive
from .forward_mode import ForwardDerivation, linearise
from .primitives import UnsupportedFunction
from .reverse import Derivation, derive
from .rules import MissingRule

__all__ = [
    "REQUIRED", "Component", "DefinitionError", "ShapeMismatch", "MissingRule", "UnsupportedFunction", "Derivation",
    "derive", "define_primitive", "DeclarationError", "linearise", "ForwardDerivation",
    "T", "add", "batch_sum", "causal_zero", "cols", "elementwise", "first_rows", "gather", "hadamard", "index_slice",
    "logsumexp", "matmul", "merge_heads", "pick", "pointwise", "prefix_sum", "rotary_angles", "rotate_half", "row_contract", "row_outer", "row_mean", "row_sum", "rows", "scale",
    "share_heads", "softmax", "split_heads", "sub", "token_sum", "x", "head_sum", "top_k_mask",
]
