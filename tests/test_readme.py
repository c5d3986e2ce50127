"""Every Python block of the README runs as written, in a fresh namespace, from the project root."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS, ids=[b.strip().splitlines()[0][:40] for b in BLOCKS])
def test_a_readme_block_runs_as_written(block, monkeypatch):
    if "import torch" in block:
        pytest.importorskip("torch")
    monkeypatch.chdir(README.parent)
    namespace = {"__name__": "readme"}
    exec(compile(block, "README.md", "exec"), namespace)
    for name, value in list(namespace.items()):  # a component file's build functions build
        if name.startswith("build") and callable(value):
            value()
