"""generated/ is exactly what the engine produces, byte for byte."""
from pathlib import Path

from backprop.cli import main
from codegen.generate import generate, outputs

ROOT = Path(__file__).resolve().parent.parent


def test_regenerating_into_a_temporary_folder_reproduces_generated(tmp_path, reuse_outputs):
    report = generate(tmp_path, "all")
    assert all(s.status == "written" for s in report)
    for s in report:
        committed = ROOT / s.output.path
        assert committed.exists(), f"{s.output.path} is not committed"
        assert (tmp_path / s.output.path).read_bytes() == committed.read_bytes(), s.output.path
    generated = {p.relative_to(ROOT) for p in (ROOT / "generated").rglob("*.py")}
    assert generated == {s.output.path for s in report}, "generated/ holds files the engine does not write"


def test_output_is_deterministic(built_in_outputs):
    assert [o.text for o in outputs()] == [o.text for o in built_in_outputs]


def test_check_reports_stale_and_missing_files(tmp_path, capsys, reuse_outputs):
    generate(tmp_path, "all")
    assert main(["generate", "--check", "--out", str(tmp_path), "--quiet"]) == 0
    (tmp_path / "generated/numpy/mlp.py").write_text("# edited\n")
    (tmp_path / "generated/numpy/linear.py").unlink()
    assert main(["generate", "--check", "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "generated/numpy/mlp.py is stale" in err
    assert "generated/numpy/linear.py is missing" in err
    assert (tmp_path / "generated/numpy/mlp.py").read_text() == "# edited\n"  # --check writes nothing


def test_generated_files_say_they_are_generated(built_in_outputs):
    for o in built_in_outputs:
        assert "DO NOT EDIT" in o.text and "backprop generate" in o.text
