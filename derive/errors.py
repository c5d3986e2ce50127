"""The errors a definition is refused with, shared by the API and the primitives' declarations."""
from __future__ import annotations


class ShapeMismatch(ValueError):
    """Two operands of a primitive have incompatible shapes."""


class DefinitionError(ValueError):
    """A component definition is malformed (duplicate name, missing output…)."""
