"""Layer normalisation over the features of each token, with scale w and shift b."""
import sympy as sp

from derive.api import Component, add, cols, hadamard, pointwise, row_mean, rows, sub, x


def build() -> Component:
    c = Component("layernorm", "Layer normalisation",
                  "per token: X̄ = diag(1/σ)(X − μ 1ᵀ), Y = X̄ diag(w) + 1 bᵀ", class_name="LayerNorm")
    n_T, d = c.dims("n_T d")
    X = c.input("X", n_T, d)
    w = c.param("w", d, init="ones", doc="scale")
    b = c.param("b", d, doc="shift")
    eps = c.config("eps", 1e-5, doc="added to the variance; 0 reproduces the paper")
    mu = c.let("mu", row_mean(X), doc="per-token mean")
    Xc = c.let("Xc", sub(X, cols(mu, d)), doc="centred input")
    var = c.let("var", row_mean(hadamard(Xc, Xc)), doc="per-token variance")
    sigma = c.let("sigma", pointwise(sp.sqrt(x + eps), var), doc="per-token standard deviation")
    Xbar = c.let("Xbar", hadamard(cols(pointwise(1 / x, sigma), d), Xc), doc="normalised input")
    c.output("Y", add(hadamard(Xbar, rows(w, n_T)), rows(b, n_T)))
    return c
