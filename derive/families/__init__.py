"""The engine's primitives declared through ``derive.declare.define_primitive``, one module per family:
everything about a primitive (node, shape, heads, VJP, JVP, notation, reference, each backend's code)
side by side in its family's module."""
