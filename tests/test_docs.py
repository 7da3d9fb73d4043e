"""Meta-tests: every hook spec is documented and tested (the datasette habit)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from az_os import hookdoc, hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("az_"))


def test_there_are_hooks():
    assert "az_register_tools" in HOOKS and len(HOOKS) >= 12


def test_hook_reference_matches_the_docstrings():
    """docs/plugin-hooks.md's reference part is what az_os.hookdoc renders
    from the hookspec docstrings now: edit a docstring and forget to
    regenerate, and this fails with the command that fixes it."""
    problem = hookdoc.check(ROOT / "docs" / "plugin-hooks.md")
    assert problem is None, problem


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    """Each hook has a section and a hand-written example in it."""
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    args = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"## {hook}({args})" in doc, f"docs/plugin-hooks.md has no '## {hook}({args})' section"
    example = hookdoc.examples_of(doc).get(hook, "")
    assert "```python" in example, (
        f"docs/plugin-hooks.md has no example for {hook}: write one between "
        f"'<!-- example:{hook}:start -->' and '<!-- example:{hook}:end -->'"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    """A test function named ``test_hook_<name>`` (in tests/test_hooks.py),
    not just a mention of the hook somewhere."""
    tests = (ROOT / "tests" / "test_hooks.py").read_text()
    assert re.search(rf"^def test_hook_{hook}\(", tests, re.M), (
        f"tests/test_hooks.py has no 'def test_hook_{hook}('"
    )


@pytest.mark.parametrize("name", ["architecture.md", "writing-plugins.md", "plugin-hooks.md"])
def test_docs_exist(name):
    assert (ROOT / "docs" / name).stat().st_size > 500
