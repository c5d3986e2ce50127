"""The reference semantics and the validation gate.

``semantics``: a component's forward definition evaluated directly, one line per primitive, in
torch (autograd through it is the authority for gradients) or NumPy; ``gate``: every generated
module run against it on small random shapes before it is returned or written.  Depends on
``derive`` alone; ``codegen`` and ``backprop`` use it.
"""

from . import declarations  # noqa: F401,E402  (installs the check every primitive's declaration passes)
