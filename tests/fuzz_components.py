"""Random components built from the public primitives only, for the differential fuzzer.

``random_component(draw)`` writes a definition as a user might: a few inputs and parameters
(matrices and vectors), then a chain of ``let`` values, each one primitive applied to values
already made (so values are reused by several consumers and parameters are used twice), and an
output.  ``draw`` is anything with ``integer(lo, hi)`` and ``choice(sequence)``: a hypothesis
``data`` object wrapped by ``HypothesisDraw``, or ``RandomDraw`` over ``random.Random``.
"""
from __future__ import annotations

import random

import sympy as sp

import derive as D
from derive import x

#: Scalar functions drawn for ``pointwise``: smooth ones, kinks, and piecewise-constant ones.
FUNCTIONS = (
    sp.tanh(x), x**2, 1 / (1 + sp.exp(-x)), sp.Max(x, 0), sp.log(1 + sp.exp(x)), sp.sin(x), x**3 - x,
    sp.exp(-x**2), sp.Abs(x), sp.sqrt(x**2 + 1), sp.Min(sp.Max(x, -1), 1), sp.sign(x) * x**2,
    sp.Piecewise((x, x > 0), (x / 4, True)),
)
ACTIVATIONS = ("gelu_tanh", "gelu", "relu", "silu")


# Primitives a user declares (``derive.define_primitive``): one that reorders rows, one of two
# operands, one that changes the shape and is not linear; drawn where any value may stand.
def _flip_vjp(G, A):
    """Ḡ · flip(A) = flip(Ḡ) · A."""
    return fuzz_flip(G)


fuzz_flip = D.define_primitive(
    "fuzz_flip", shape=lambda a: a, vjp=_flip_vjp, reference=lambda A: A.flip(-2),
    numpy="np.flip({0}, axis=-2)", torch="torch.flip({0}, (-2,))", notation="flip({0})", linear=True)


def _same_shape(a, b):
    if tuple(a) != tuple(b):
        raise ValueError("operands of the same shape")
    return a


def _times_flipped_vjp(G, A, B):
    """Ḡ · (A ∘ flip(B)) = (Ḡ ∘ flip(B)) · A + flip(Ḡ ∘ A) · B."""
    return D.hadamard(G, fuzz_flip(B)), fuzz_flip(D.hadamard(G, A))


fuzz_times_flipped = D.define_primitive(
    "fuzz_times_flipped", shape=_same_shape, vjp=_times_flipped_vjp, reference=lambda A, B: A * B.flip(-2),
    numpy="{0} * np.flip({1}, axis=-2)", torch="{0} * torch.flip({1}, (-2,))", linear=True)


def _squares_vjp(G, A):
    """Ḡ · d((A ∘ A) 1) = (2 A ∘ (Ḡ 1ᵀ)) · dA."""
    return D.scale(2, D.hadamard(A, D.cols(G, A.shape[1])))


fuzz_squares = D.define_primitive(
    "fuzz_squares", shape=lambda a: (a[0], 1), vjp=_squares_vjp, reference=lambda A: (A * A).sum(-1, keepdim=True),
    numpy="({0} * {0}).sum(axis=-1, keepdims=True)", torch="({0} * {0}).sum(-1, keepdim=True)",
    notation="sq({0})")


class RandomDraw:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]


class HypothesisDraw:
    def __init__(self, data):
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def integer(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, seq):
        return self.data.draw(self.st.sampled_from(list(seq)))


def _rows_of(v):
    return v.shape[0]


def random_component(draw, steps: int | None = None, user_primitives: bool = True) -> D.Component:
    """A random component: the pool of values grows by one primitive per step."""
    c = D.Component("fuzz", "fuzzed component")
    n_T, d, e = c.dims("n_T d e")
    pool: list = []  # (expr, batched)
    X = c.input("X", n_T, d)
    pool.append(X)
    if draw.integer(0, 1):
        pool.append(c.input("Y", n_T, e))
    pool.append(c.param("W", d, e))
    if draw.integer(0, 1):
        pool.append(c.param("U", e, d))
    pool.append(c.param("b", d))  # a vector: the row bᵀ (1, d)
    if draw.integer(0, 1):
        pool.append(c.param("g", e, init="ones"))
    if draw.integer(0, 1):
        pool.append(c.param("S0", n_T, n_T))  # a per-position table
    if draw.integer(0, 3) == 0:
        pool.append(c.input("M", n_T, d, frozen=True))  # never differentiated (a mask, a table)
    if draw.integer(0, 3) == 0:
        pool.append(c.param("k", 1, 1))  # a 1 × 1 value: a number that is a matrix
    if draw.integer(0, 3) == 0:
        pool.append(c.input("T", n_T, e))  # a target: per-sequence losses of affine maps
    idx = c.input("idx", n_T, dtype="int") if draw.integer(0, 3) == 0 else None
    heads = groups = None
    if draw.integer(0, 3) == 0:
        heads = c.integer_config("n_heads")
        c.require(sp.Eq(sp.Mod(d, heads), 0), "d must be divisible by n_heads")
        if draw.integer(0, 1):
            pool.append(c.param("P", n_T, d))  # a parameter to split into heads
        if draw.integer(0, 1):  # grouped heads: n_groups heads, each shared by n_heads / n_groups
            groups = c.integer_config("n_groups")
            c.require(sp.Eq(sp.Mod(d, groups), 0), "d must be divisible by n_groups")
    alpha = c.config("alpha", 0.5) if draw.integer(0, 2) == 0 else None
    causal = c.flag("causal", True) if draw.integer(0, 2) == 0 else sp.true
    act = c.activation("act", "gelu_tanh", ACTIVATIONS) if draw.integer(0, 3) == 0 else None

    def pick(predicate=lambda v: True):
        candidates = [v for v in pool if predicate(v)]
        return draw.choice(candidates) if candidates else None

    def square(v):
        return v.shape[0] == v.shape[1]

    def ops():
        yield "matmul"
        yield "add"
        yield "sub"
        yield "hadamard"
        yield "scale"
        yield "T"
        yield "rows"
        yield "cols"
        yield "row_sum"
        yield "token_sum"
        yield "row_mean"
        yield "pointwise"
        yield "softmax"
        yield "causal_zero"
        yield "logsumexp"
        yield "prefix_sum"
        yield "row_outer"
        yield "row_contract"
        yield "batch_sum"
        yield "rotate_half"
        yield "rotary"
        if heads is not None:
            yield "split_heads"
            yield "merge_heads"
        if groups is not None:
            yield "share_heads"
        if idx is not None:
            yield "gather"
            yield "pick"
            yield "first_rows"
        if act is not None:
            yield "activation"
        # what users write that single primitives rarely make: biased affine maps and their
        # per-sequence losses, vectors as rows and as columns, sums over the batch of values mixing
        # batched and shared terms, a value reused inline, nested log-sum-exps, values without
        # heads meeting head-split ones and parameters split into heads
        yield "affine"
        yield "squared_error"
        yield "vector_column"
        yield "batch_sum_mixed"
        yield "reuse_inline"
        yield "nested_logsumexp"
        # each optimising pass's trigger: a softmax beside the log-sum-exp of the same logits, a chain
        # of three products, two products sharing an operand, an entrywise affine value
        yield "softmax_and_logsumexp"
        yield "chain"
        yield "shared_operand"
        yield "entrywise_affine"
        if heads is not None:
            yield "heads_meet"
            yield "param_heads"
        if user_primitives:
            yield "user_flip"
            yield "user_pair"
            yield "user_squares"
            yield "number"  # a number parameter or input (shape ()) where a number is: scale, ∘, pointwise
            yield "top_k"  # top-k routing's decision, and the renormalised gates it selects
            if heads is not None:
                yield "experts"  # one matrix per head (a count first), met by values without heads

    numbers: dict = {}

    def number(kind: str):
        """The component's number parameter or per-sequence number input, declared at its first use."""
        if kind not in numbers:
            numbers[kind] = c.param("s_num", init="ones") if kind == "param" else c.input("u_num")
        return numbers[kind]

    available = list(ops())
    count = steps if steps is not None else draw.integer(1, 6)
    made = 0
    for _ in range(count * 4):
        if made >= count:
            break
        op = draw.choice(available)
        if op == "top_k":
            a = pick(lambda v: v not in c._headed)
            if a is None:
                value = None
            elif draw.integer(0, 1):
                value = D.hadamard(D.top_k_mask(a, 1), a)
            else:  # Mixtral's gates: the largest probability of each row, renormalised
                P = D.softmax(a)
                chosen = D.hadamard(D.top_k_mask(P, 1), P)
                value = D.hadamard(D.cols(D.pointwise(1 / x, D.row_sum(chosen)), a.shape[1]), chosen)
        elif op == "experts":
            a = pick(lambda v: v.shape == (n_T, d) and v not in c._headed)
            if "experts" not in numbers:
                numbers["experts"] = c.param("W_experts", heads, e, d)
            value = None if a is None else D.matmul(a, D.T(numbers["experts"]))  # (heads, n_T, e)
            if value is not None and draw.integer(0, 1):  # one number per head (a count as a size), ALiBi's slopes
                if "slopes" not in numbers:
                    numbers["slopes"] = c.param("slopes", heads, init="ones")
                per_head = D.split_heads(D.rows(numbers["slopes"], n_T), heads)  # (heads, n_T, 1)
                value = D.hadamard(D.cols(per_head, e), value)
            if value is not None and draw.integer(0, 1):
                value = D.head_sum(value, heads)
        elif op == "number":
            s, v = number(draw.choice(["param", "input"])), pick(lambda v: v.shape != (1, 1))
            how = draw.integer(0, 2)
            value = None if v is None else (D.scale(s, v) if how == 0 else D.hadamard(v, s) if how == 1
                                            else D.scale(D.pointwise(sp.tanh(x), s), v))
        else:
            value = _apply(op, draw, pick, square, c, n_T, d, e, heads, idx, alpha, causal, act, groups)
        if value is None:
            continue
        made += 1
        pool.append(c.let(f"v{made}", value))
    last = pool[-1]
    if draw.integer(0, 2) == 0 and last.shape != (1, 1):  # a loss: a scalar
        last = D.token_sum(D.row_sum(last))
        if draw.integer(0, 1):
            last = D.batch_sum(last)
    c.output("Z", last)
    # several outputs: a value defined on the way returned too (drawn last, so earlier seeds keep their draws)
    earlier = [v for v in pool if isinstance(v, sp.MatrixSymbol) and v != last
               and any(dn.symbol == v for dn in c.definitions)]
    if earlier and draw.integer(0, 3) == 0:
        chosen = draw.choice(earlier)
        c.output(chosen.name, chosen)
    return c


def _apply(op, draw, pick, square, c, n_T, d, e, heads, idx, alpha, causal, act, groups=None):
    if op == "matmul":
        a = pick()
        b = pick(lambda v: v.shape[0] == a.shape[1])
        return D.matmul(a, b) if b is not None else None
    if op in ("add", "sub", "hadamard"):
        a = pick()
        b = pick(lambda v: v.shape == a.shape)
        return {"add": D.add, "sub": D.sub, "hadamard": D.hadamard}[op](a, b)
    if op == "scale":
        k = draw.choice([sp.Rational(1, 2), -2, alpha if alpha is not None else 3, 1 / n_T])
        return D.scale(k, pick())
    if op == "T":
        return D.T(pick())
    if op == "rows":
        v = pick(lambda v: v.shape[0] == 1)
        return D.rows(v, draw.choice([n_T, d, e])) if v is not None else None
    if op == "cols":
        v = pick(lambda v: v.shape[1] == 1)
        return D.cols(v, draw.choice([n_T, d, e])) if v is not None else None
    if op == "row_sum":
        return D.row_sum(pick())
    if op == "token_sum":
        return D.token_sum(pick())
    if op == "row_mean":
        return D.row_mean(pick())
    if op == "pointwise":
        return D.pointwise(draw.choice(FUNCTIONS), pick())
    if op == "activation":
        return D.elementwise(act, pick())
    if op == "softmax":
        a = pick()
        return D.softmax(a, causal if square(a) and draw.integer(0, 1) else sp.false)
    if op == "causal_zero":
        a = pick(square)
        return D.causal_zero(a, causal) if a is not None else None
    if op == "logsumexp":
        return D.logsumexp(pick())
    if op == "prefix_sum":
        return D.prefix_sum(pick())
    if op == "row_outer":
        a = pick()
        b = pick(lambda v: v.shape[0] == a.shape[0])
        return D.row_outer(a, b)
    if op == "row_contract":
        q = pick()
        t = pick(lambda v: v.shape[0] == q.shape[0] and v is not q)
        if t is None:
            return None
        return D.row_contract(q, D.row_outer(q, t)) if draw.integer(0, 1) else None
    if op == "batch_sum":
        return D.batch_sum(pick())
    if op == "split_heads":
        a = pick(lambda v: v.shape[1] == d and v not in c._headed)
        return D.split_heads(a, heads) if a is not None else None
    if op == "merge_heads":
        a = pick(lambda v: v in c._headed)
        return D.merge_heads(a, heads) if a is not None else None
    if op == "share_heads":  # a value split into n_groups heads, shared by the n_heads heads
        a = pick(lambda v: v.shape[1] == d and v not in c._headed)
        return D.share_heads(D.split_heads(a, groups), groups, heads) if a is not None else None
    if op == "rotate_half":
        return D.rotate_half(pick())
    if op == "user_flip":
        return fuzz_flip(pick())
    if op == "user_pair":
        a = pick()
        return fuzz_times_flipped(a, pick(lambda v: v.shape == a.shape))
    if op == "user_squares":
        return fuzz_squares(pick())
    if op == "rotary":  # A ∘ cos Θ + rotate_half(A) ∘ sin Θ, the angles of A's own sizes
        a = pick()
        angles = D.rotary_angles(a.shape[0], a.shape[1], draw.choice([10.0, 10000.0]))
        return D.add(D.hadamard(a, D.pointwise(sp.cos(D.x), angles)),
                     D.hadamard(D.rotate_half(a), D.pointwise(sp.sin(D.x), angles)))
    if op == "gather":
        table = pick(lambda v: v.shape[0] == n_T)
        return D.gather(table, idx) if table is not None else None
    if op == "pick":
        z = pick(lambda v: v.shape[0] == n_T and v.shape[1] == n_T)
        return D.pick(z, idx) if z is not None else None
    if op == "affine":  # A W + 1 bᵀ: any value times a matrix, plus a vector's row
        a = pick()
        w = pick(lambda v: v.shape[0] == a.shape[1] and v.shape[1] != 1)
        b = pick(lambda v: v.shape[0] == 1 and w is not None and v.shape[1] == w.shape[1])
        return D.add(D.matmul(a, w), D.rows(b, a.shape[0])) if b is not None else None
    if op == "squared_error":  # ½ Σ_t ‖A W + 1 bᵀ − T‖², per sequence or summed over the batch
        a = pick(lambda v: v.shape[0] == n_T)
        w = pick(lambda v: v.shape[0] == a.shape[1] and v.shape[1] == e)
        b = pick(lambda v: v.shape == (1, e))
        t = pick(lambda v: v.shape == (n_T, e))
        if w is None or t is None:
            return None
        r = D.sub(D.add(D.matmul(a, w), D.rows(b, n_T)) if b is not None else D.matmul(a, w), t)
        loss = D.scale(sp.Rational(1, 2), D.token_sum(D.row_sum(D.hadamard(r, r))))
        return D.batch_sum(loss) if draw.integer(0, 1) else loss
    if op == "vector_column":  # a vector's row turned into a column and broadcast: (b 1ᵀ)ᵀ-like uses
        v = pick(lambda v: v.shape[0] == 1)
        if v is None:
            return None
        column = D.T(v)
        return D.cols(column, draw.choice([n_T, d, e])) if draw.integer(0, 1) else D.hadamard(column, column)
    if op == "batch_sum_mixed":  # Σ_batch (A − P Q): a batched value with terms shared by the batch
        a = pick()
        b = pick(lambda v: v.shape == a.shape and v is not a)
        if b is None:
            return None
        return D.batch_sum(D.sub(a, b) if draw.integer(0, 1) else D.add(a, D.scale(2, b)))
    if op == "reuse_inline":  # one expression used twice inline, not through a let
        a = pick()
        inner = D.add(a, a) if draw.integer(0, 1) else D.pointwise(sp.tanh(D.x), a)
        return D.hadamard(inner, inner) if draw.integer(0, 1) else D.add(inner, D.scale(-1, inner), inner)
    if op == "nested_logsumexp":  # lse(lse(Z)) beside lse(Z)
        z = pick()
        inner = D.logsumexp(z)
        return D.add(D.logsumexp(inner), inner) if draw.integer(0, 1) else D.logsumexp(D.logsumexp(inner))
    if op == "heads_meet":  # every way a value without heads meets head-split ones
        q = pick(lambda v: v in c._headed and v.shape[0] == n_T)
        a = pick(lambda v: v not in c._headed and v.shape[0] == n_T)
        if q is None or a is None:
            return None
        scores, shared = D.matmul(q, D.T(q)), D.matmul(a, D.T(a))  # (n_T, n_T) with and without heads
        way = draw.integer(0, 5)
        if way == 0:
            return D.add(scores, shared)  # Q_h Q_hᵀ + X Xᵀ
        if way == 1:
            return D.hadamard(D.softmax(scores), shared)
        if way == 2:
            return D.matmul(shared, q)  # a per-sequence matrix times a head-split value
        if way == 3:
            return D.matmul(scores, a)  # head-split scores times a value without heads
        if way == 4:
            return D.hadamard(q, D.cols(D.row_sum(a), q.shape[1]))  # a column without heads, broadcast
        return D.sub(q, D.rows(D.token_sum(D.cols(D.row_sum(a), q.shape[1])), n_T))
    if op == "param_heads":  # every way a parameter enters a head split
        q = pick(lambda v: v in c._headed and v.shape[0] == n_T)
        w = pick(lambda v: v.shape == (n_T, d) and v not in c._headed and not getattr(v, "name", "").startswith("v"))
        if w is None:
            return None
        way = draw.integer(0, 2)
        split = D.split_heads(w if way != 1 else D.add(w, w), heads)  # the parameter, or a value of it alone
        if way == 2 and groups is not None:
            split = D.share_heads(D.split_heads(w, groups), groups, heads)
        return D.hadamard(q, split) if q is not None else D.merge_heads(D.pointwise(sp.tanh(D.x), split), heads)
    if op == "softmax_and_logsumexp":  # softmax(Z) and lse(Z) of the same logits (reuse-log-sum-exp)
        z = pick()
        return D.add(D.hadamard(D.softmax(z), z), D.cols(D.logsumexp(z), z.shape[1]))
    if op == "chain":  # three products in a row (order-chains)
        a = pick()
        b = pick(lambda v: v.shape[0] == a.shape[1])
        k = pick(lambda v: b is not None and v.shape[0] == b.shape[1])
        return D.matmul(a, b, k) if k is not None else None
    if op == "shared_operand":  # A W₁ and A W₂ both used (fuse-shared-operand)
        a = pick()
        w1 = pick(lambda v: v.shape[0] == a.shape[1])
        w2 = pick(lambda v: w1 is not None and v.shape == w1.shape and v is not w1)
        if w2 is None:
            return None
        return D.hadamard(D.matmul(a, w1), D.pointwise(sp.tanh(D.x), D.matmul(a, w2)))
    if op == "entrywise_affine":  # an entrywise affine map of one value, read by the backward
        a = pick()
        v = pick(lambda v: v.shape == (1, a.shape[1]))
        shifted = D.add(D.scale(2, a), D.rows(v, a.shape[0])) if v is not None else D.scale(3, a)
        return D.hadamard(shifted, D.pointwise(sp.sin(D.x), shifted))
    if op == "first_rows":
        a = pick(lambda v: v.shape[0] == n_T)
        return D.first_rows(a, n_T - 1) if a is not None else None
    raise AssertionError(op)
