"""Meta-tests: every hook spec is documented and tested (the datasette habit)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from az_os import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("az_"))


def test_there_are_hooks():
    assert "az_register_tools" in HOOKS and len(HOOKS) >= 12


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    spec = getattr(hookspecs, hook)
    import inspect

    args = ", ".join(inspect.signature(spec).parameters)
    assert f"## {hook}({args})" in doc, f"docs/plugin-hooks.md has no '## {hook}({args})' section"
    section = doc.split(f"## {hook}(", 1)[1].split("\n## ", 1)[0]
    assert "```python" in section, f"{hook} has no example"
    assert spec.__doc__ and "Called" in spec.__doc__ and "Kind" in spec.__doc__


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
