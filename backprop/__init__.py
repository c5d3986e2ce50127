"""The application: the ``backprop`` command, training and checkpoints, verification.

It uses ``codegen`` (derivations into code) and ``derive`` (the mathematics);
neither imports it.
"""
