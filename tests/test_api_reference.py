"""docs/derive-api.md covers every public name of ``derive``, and its examples run."""
import re
from pathlib import Path

import derive

PAGE = Path(__file__).resolve().parent.parent / "docs" / "derive-api.md"


def test_every_public_name_has_a_section():
    headings = " ".join(re.findall(r"^### (.+)$", PAGE.read_text(), flags=re.M))
    missing = [n for n in derive.__all__ if f"`{n}" not in headings and f"`{n}`" not in headings]
    assert not missing, f"docs/derive-api.md has no section for {missing}"


def test_every_example_runs_in_order():
    namespace: dict = {}
    for block in re.findall(r"```py(?:thon)?\n(.*?)```", PAGE.read_text(), flags=re.S):
        exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own examples
    assert namespace["tangents"] and namespace["gradients"]
