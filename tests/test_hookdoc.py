"""az_os.hookdoc: the hook reference rendered from the hookspec docstrings."""

from __future__ import annotations

from pathlib import Path

import pytest
from az_os import hookdoc

ROOT = Path(__file__).resolve().parents[1]


def _spec(doc: str):  # type: ignore[no-untyped-def]
    def az_sample(task, query):  # type: ignore[no-untyped-def]
        pass

    az_sample.__doc__ = doc
    return az_sample


GOOD = """Do a sample thing.

    Details every implementation must know.

    Called: when a sample is
    needed.
    Args:
        task: the ``Task``.
        query: the text, see :class:`~az_os.types.Task` and
            :func:`az_os.config.parse_section`.
    Returns: nothing.
    Kind: all.
    """


def test_a_docstring_renders_as_a_section():
    doc = hookdoc.parse("az_sample", _spec(GOOD), {})
    text = hookdoc.render_hook(doc)
    assert text.startswith("## az_sample(task, query)\n\nDo a sample thing.\n\nDetails")
    assert "- Called: when a sample is needed." in text
    assert "  - `task`: the `Task`." in text
    # roles become code: short with ~, the full name without
    assert "  - `query`: the text, see `Task` and `az_os.config.parse_section`." in text
    assert "- Kind: all; isolated (a failing implementation is logged and skipped)." in text


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("Kind: all.", "Kind: firstresult."), "'Kind: firstresult' but the spec is all"),
        (("    Returns: nothing.\n", ""), "no 'Returns:' line"),
        (("        query: the text", "        words: the text"), "'Args:' names ['task', 'words']"),
        (("        task: the ``Task``.", "        the task"), "'Args:' line 'the task'"),
        (("Called: when", "Kind: all.\n    Called: when"), "'Kind:' twice"),
    ],
)
def test_a_docstring_off_the_layout_is_refused(change, problem):
    with pytest.raises(hookdoc.HookDocError) as exc:
        hookdoc.parse("az_sample", _spec(GOOD.replace(*change)), {})
    assert problem in str(exc.value) and "az_sample" in str(exc.value)


def test_every_hookspec_follows_the_layout():
    names = [h.name for h in hookdoc.hooks()]
    assert names[0] == "az_configure" and "az_secret_names" in names


def test_regenerating_keeps_hand_written_parts_and_replaces_the_rest():
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    examples = hookdoc.examples_of(doc)
    stale = doc.replace("Give plugins the loaded configuration", "Old words").replace(
        examples["az_route"], "```python\nmy own example\n```\n"
    )
    new = hookdoc.update(stale)
    assert "Old words" not in new and "Give plugins the loaded configuration" in new
    assert "```python\nmy own example\n```\n<!-- example:az_route:end -->" in new
    assert new.startswith("# Plugin hooks\n")  # text before the markers is kept
    assert hookdoc.update(new) == new


def test_an_example_for_a_hook_that_is_gone_is_not_dropped_silently():
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    gone = doc.replace("example:az_route:", "example:az_old_route:")
    with pytest.raises(hookdoc.HookDocError, match="az_old_route, which is no hook"):
        hookdoc.update(gone)


def test_check_and_write_commands(tmp_path, capsys):
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    path = tmp_path / "plugin-hooks.md"
    path.write_text(doc.replace("Pick the model for one model call.", "Pick one."))
    assert hookdoc.main(["--check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "does not match the hookspec docstrings" in err
    assert "run `python -m az_os.hookdoc --write docs/plugin-hooks.md`" in err
    assert hookdoc.main(["--write", str(path)]) == 0
    assert path.read_text() == doc
    assert hookdoc.main(["--check", str(path)]) == 0
    path.write_text("# no markers\n")
    assert hookdoc.main(["--check", str(path)]) == 2
    assert "needs one '<!-- hook-reference:start -->'" in capsys.readouterr().err
