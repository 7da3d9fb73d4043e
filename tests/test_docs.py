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
    me = Path(__file__).resolve()
    files = [
        p
        for p in [*ROOT.glob("tests/**/test_*.py"), *ROOT.glob("plugins/*/tests/**/test_*.py")]
        if p.resolve() != me
    ]
    pattern = re.compile(rf"\b{hook}\b")
    assert any(pattern.search(p.read_text()) for p in files), f"no test mentions {hook}"


@pytest.mark.parametrize("name", ["architecture.md", "writing-plugins.md", "plugin-hooks.md"])
def test_docs_exist(name):
    assert (ROOT / "docs" / name).stat().st_size > 500
