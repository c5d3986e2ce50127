"""Every Python block of the README and of the pages in docs/ runs as written, in a fresh namespace, from
the project root; every link between them leads to a file that is there."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
PAGES = [README, *sorted((README.parent / "docs").glob("*.md"))]
BLOCKS = [b for page in PAGES for b in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


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


def test_the_readme_is_a_guide_that_links_the_reference_pages():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in text, f"the README does not link {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_leads_to_a_file(page):
    for target in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{page.name} links {target}, which is not there"
