"""Next-token cross-entropy of a linear head: position t is scored against token t + 1."""
import sympy as sp

from derive.api import (
    Component,
    add,
    batch_sum,
    first_rows,
    index_slice,
    logsumexp,
    matmul,
    pick,
    rows,
    scale,
    sub,
    token_sum,
)


def build() -> Component:
    c = Component("cross_entropy", "Cross-entropy of next-token logits",
                  "logits = X W + 1 bᵀ; loss = weight Σ_t (log Σ_j exp(logits_tj) − logits_t,idx[t+1])",
                  class_name="CrossEntropy")
    n_T, d, n_vocab = c.dims("n_T d n_vocab")
    X = c.input("X", n_T, d)
    W = c.param("W", d, n_vocab, doc="head weights")
    b = c.param("b", n_vocab, doc="head bias")
    idx = c.input("idx", n_T, dtype="int", doc="the sequence's tokens: position t predicts idx[t + 1]")
    n_batch = c.batch_size()
    weight = c.choice_scalar("reduction", {"mean": 1 / (n_batch * (n_T - 1)), "sum": 1}, "mean", "weight",
                             doc='"mean" averages the scored terms of the batch, "sum" adds them (the paper)')
    c.require(sp.Ge(n_T, 2), "n_T must be at least 2: position t is scored against token t + 1")
    X_s = c.let("X_s", first_rows(X, n_T - 1), doc="the scored positions")
    Z = c.let("Z", add(matmul(X_s, W), rows(b, n_T - 1)), doc="logits")
    targets = index_slice(idx, 1)
    ell = c.let("ell", token_sum(sub(logsumexp(Z), pick(Z, targets))), doc="summed loss of one sequence")
    c.output("loss", scale(weight, batch_sum(ell)))
    return c
