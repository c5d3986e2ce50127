import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))  # tests/strategies.py

settings.register_profile("default", deadline=None, max_examples=25)
settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


_DERIVED: dict[str, list] = {}


def _derived_once(target_choice: str = "all", names=None, progress=None):
    """The built-ins' outputs (``codegen.generate.outputs``), derived once per target in a session."""
    from codegen.generate import NAMES, outputs

    outputs = getattr(outputs, "derives", outputs)  # the real one behind a patched module attribute
    if names not in (None, NAMES):
        return outputs(target_choice, names, progress)
    if target_choice not in _DERIVED:
        _DERIVED[target_choice] = outputs(target_choice, progress=progress)
    return list(_DERIVED[target_choice])


@pytest.fixture
def built_in_outputs():
    """Every file ``backprop generate`` writes for the built-ins, derived once per session."""
    return _derived_once("all")


@pytest.fixture
def reuse_outputs(monkeypatch):
    """``backprop generate`` in this process writes the outputs derived once: for the tests of writing,
    checking and repairing files, which derive nothing of their own (``test_output_is_deterministic``
    derives afresh)."""
    from codegen import generate

    def derived_once(target_choice="all", names=None, progress=None):
        return _derived_once(target_choice, names, progress)

    derived_once.derives = generate.outputs
    monkeypatch.setattr(generate, "outputs", derived_once)
