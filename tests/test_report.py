"""`backprop report`: pages that read like the paper, checked in a real browser with the network off."""
import os
import re
import shutil
from pathlib import Path

import pytest

from backprop.cli import main
from test_component_files import RMSNORM

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    user = out.parent / "user_blocks.py"
    user.write_text(RMSNORM)
    assert main(["report", "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(user), "--out", str(out / "user"), "--quiet"]) == 0
    return out


def test_every_page_has_markdown_and_html_and_the_index_links_them(report):
    names = ["embedding", "linear", "mlp", "layernorm", "attention", "lora_linear", "cross_entropy", "gpt2_block"]
    for name in names:
        md, page = (report / f"{name}.md").read_text(), (report / f"{name}.html").read_text()
        assert "$$" in md and "<math" not in md
        assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/1998/Math/MathML", "")
        for heading in ("Forward definition", "Reverse sweep", "Results and facts", "Closed forms", "Generated code"):
            assert heading in md and heading in page
        assert page.count("<details>") == 2
    index = (report / "index.html").read_text()
    assert all(f'href="{n}.html"' in index for n in names)
    assert (report / "user" / "rmsnorm.html").exists() and (report / "user" / "swiglu.md").exists()


def test_attention_page_states_the_key_bias_result_with_its_facts(report):
    md = (report / "attention.md").read_text()
    assert r"\frac{\partial L}{\partial b_{k}} = 0" in md
    assert "sum of Δ_S" in md and "softmax-rows" in md


def test_layernorm_closed_form_reads_as_the_papers(report):
    md = (report / "layernorm.md").read_text()
    closed = md.split("## Closed forms")[1].split("## Generated code")[0]
    # Δ_X = diag(1/σ)(G − mean_f(G) 1ᵀ − X̄ ∘ (mean_f(G ∘ X̄) 1ᵀ)), G = Δ_Y ∘ (1 wᵀ), here distributed.
    assert r"\Delta_{\bar{X}} = \Delta_{Y} \circ \left(\mathbf{1} w^{T}\right)" in closed
    assert (r"\frac{\partial L}{\partial X} = \Delta_{\bar{X}} \circ \left(\frac{1}{\sigma} \mathbf{1}^{T}\right)"
            r" - \frac{1}{d} \left(\left(\left(\frac{1}{\sigma} \circ \left(\left(\Delta_{\bar{X}} \circ \bar{X}\right)"
            r" \mathbf{1}\right)\right) \mathbf{1}^{T}\right) \circ \bar{X}\right) - \frac{1}{d} \left(\left("
            r"\frac{1}{\sigma} \circ \left(\Delta_{\bar{X}} \mathbf{1}\right)\right) \mathbf{1}^{T}\right)") in closed
    assert "Xbar 1 = 0" in closed


def test_report_never_overwrites_a_file_it_did_not_write(tmp_path, capsys):
    (tmp_path / "linear.html").write_text("my notes")
    assert main(["report", "linear", "--out", str(tmp_path), "--quiet"]) == 2
    assert "was not written by `backprop report`" in capsys.readouterr().err
    assert (tmp_path / "linear.html").read_text() == "my notes" and not (tmp_path / "linear.md").exists()
    assert main(["report", "linear", "--out", str(tmp_path), "--quiet", "--force"]) == 0
    assert main(["report", "linear", "--out", str(tmp_path), "--quiet"]) == 0  # its own files: rewritten


def test_reports_into_one_folder_add_up_in_its_index(tmp_path):
    assert main(["report", "linear", "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["report", "mlp", "--out", str(tmp_path), "--quiet"]) == 0
    index, index_md = (tmp_path / "index.html").read_text(), (tmp_path / "index.md").read_text()
    assert 'href="linear.html"' in index and 'href="mlp.html"' in index
    assert "(<linear.md>)" in index_md and "(<mlp.md>)" in index_md
    assert main(["report", "linear", "--out", str(tmp_path), "--quiet"]) == 0  # rewriting one keeps the other
    assert 'href="mlp.html"' in (tmp_path / "index.html").read_text()


HOSTILE = RMSNORM.replace('"rmsnorm", "RMS normalisation", "Y = diag(1/rms(X)) X diag(w)"',
                          '"index", "<script>alert(1)</script> [click](javascript:alert(2))", '
                          '"<img src=x onerror=alert(3)> | *not bold*"')


def test_a_component_named_index_and_hostile_text_are_pages_of_text(tmp_path):
    user = tmp_path / "hostile.py"
    user.write_text(HOSTILE)
    out = tmp_path / "report"
    assert main(["report", f"{user}:build_rmsnorm", "--out", str(out), "--quiet"]) == 0
    index = (out / "index.html").read_text()
    assert index.startswith("<!DOCTYPE html>") and 'href="index.component.html"' in index
    md = (out / "index.component.md").read_text() + (out / "index.md").read_text()
    md = re.sub(r"\n```python\n.*?\n```\n", "", md, flags=re.S)  # generated code is code, never markup
    page = (out / "index.component.html").read_text()
    for text in (md, page, index):
        assert "<script>" not in text and "<img" not in text
    assert not re.search(r"(?<!\\)\]\(javascript:", md) and "&lt;script&gt;" in md and r"\[click\]" in md


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required on CI (.ci/run installs them)")
        pytest.skip("chromium or chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1000",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    yield driver
    driver.quit()


RENDERED = """
const maths = Array.from(document.querySelectorAll('math'));
const empty = maths.filter(m => { const r = m.getBoundingClientRect(); return !(r.width > 0 && r.height > 0); });
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
let text = '';
while (walker.nextNode()) {
  const n = walker.currentNode;
  if (!n.parentElement.closest('math, pre, code')) text += n.textContent + ' ';
}
return [maths.length, empty.length, text, Array.from(document.links).map(a => a.href)];
"""


def test_pages_render_in_a_real_browser_offline(report, browser):
    pages = sorted(report.glob("*.html")) + sorted((report / "user").glob("*.html"))
    for path in pages:
        browser.get(path.as_uri())
        count, empty, text, links = browser.execute_script(RENDERED)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, (path.name, errors)
        if path.name != "index.html":
            assert count > 10 and empty == 0, (path.name, count, empty)
        raw = re.findall(r"\\[a-zA-Z]+|\$\$?|\^\{|_\{", text)
        assert not raw, (path.name, raw[:5])
        for link in links:
            assert link.startswith("file://"), link
            assert Path(link.removeprefix("file://").split("#")[0]).exists(), (path.name, link)
    browser.get((report / "attention.html").as_uri())
    png = browser.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_sigmoid_attention_page_says_why_the_key_bias_matters(report):
    md = (report / "sigmoid_attention.md").read_text()
    assert r"\frac{\partial L}{\partial b_{k}} \neq 0" in md
    assert "so the fact softmax-rows (softmax(S) 1 = 1) does not apply" in md
