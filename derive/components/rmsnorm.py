"""RMS normalisation over the features of each token, with scale w (LLaMA's; no centring, no shift)."""
import sympy as sp

from derive.api import Component, cols, hadamard, pointwise, row_mean, rows, x


def build() -> Component:
    c = Component("rmsnorm", "RMS normalisation",
                  "per token: Y = diag(1/rms) X diag(w), rms = √(mean_f(X ∘ X) + eps)", class_name="RMSNorm")
    n_T, d = c.dims("n_T d")
    X = c.input("X", n_T, d)
    w = c.param("w", d, init="ones", doc="scale")
    eps = c.config("eps", 1e-6, doc="added to the mean square")
    ms = c.let("ms", row_mean(hadamard(X, X)), doc="per-token mean square")
    r = c.let("r", pointwise(1 / sp.sqrt(x + eps), ms), doc="per-token reciprocal root mean square")
    c.output("Y", hadamard(cols(r, d), X, rows(w, n_T)))
    return c
