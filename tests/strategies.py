"""Hypothesis strategies shared by the backend tests."""
from hypothesis import strategies as st

from backprop.verify import MIN_SIZES, configurations, dimension_names, fitted, smallest
from derive.components import build


@st.composite
def cases(draw, name, batches=((), (1,), (3,), (2, 3)), largest=7):
    """(sizes, batch, config, seed): random dimension sizes, n_T = 1 often, every configuration."""
    c = build(name)
    low = MIN_SIZES.get(name, {})
    sizes = {d: draw(st.integers(low.get(d, 1), max(largest, low.get(d, 1)))) for d in dimension_names(c)}
    first = smallest(name, "n_T")  # one token, where the component allows it
    sizes["n_T"] = draw(st.one_of(st.just(first), st.integers(first, max(largest, first))))
    sizes = fitted(name, sizes)
    config = draw(st.sampled_from(configurations(name, sizes)))
    return sizes, draw(st.sampled_from(batches)), config, draw(st.integers(0, 2**32 - 1))
