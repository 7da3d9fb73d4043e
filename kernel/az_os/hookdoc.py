"""The reference part of docs/plugin-hooks.md, rendered from the hookspec docstrings.

The docstrings in :mod:`az_os.hookspecs` are the one source; this module
renders them as Markdown between the markers ``<!-- hook-reference:start -->``
and ``<!-- hook-reference:end -->`` of a document. What is written by hand
is kept: everything outside those markers, and inside them each block
between ``<!-- example:NAME:start -->`` and ``<!-- example:NAME:end -->``
(``NAME`` is a hook, or ``hooks`` for the block after the overview)::

    python -m az_os.hookdoc --write docs/plugin-hooks.md   # regenerate
    python -m az_os.hookdoc --check docs/plugin-hooks.md   # exit 1 when out of date

Layout of a hook's docstring (reST inline markup: ````code````,
``:class:`~az_os.types.Task```)::

    Summary line.

    Optional paragraphs (details every implementation must know).

    Called: when the hook is called (may wrap over lines).
    Args:
        name: what it is (continuation lines indented further).
        register(model, aliases=()): a callable argument, with its own arguments.
    Returns: what to return or raise.
    Kind: all.

``Args: none.`` for a hook without arguments. ``Kind:`` is ``all``,
``firstresult`` or ``historic`` and must match how the spec is marked; the
rendered page adds how the hook treats a failing implementation
(:data:`~az_os.hookspecs.PROPAGATING_HOOKS`,
:data:`~az_os.hookspecs.AZ_ERRORS_PROPAGATE`). A docstring that does not
follow the layout raises :class:`HookDocError` naming the hook.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START = "<!-- hook-reference:start -->"
END = "<!-- hook-reference:end -->"
#: Name of the example block that follows the overview (not a hook).
OVERVIEW = "hooks"
COMMAND = "python -m az_os.hookdoc --write docs/plugin-hooks.md"
WIDTH = 100

_LABELS = ("Called", "Args", "Returns", "Kind")
_LABEL = re.compile(rf"^({'|'.join(_LABELS)}):(?:\s+(.*))?$")
_ARG = re.compile(r"^([A-Za-z_]\w*(?:\(.*?\))?):\s+(.*)$")
_EXAMPLE = re.compile(
    r"<!-- example:(?P<name>[\w-]+):start -->\n(?P<body>.*?)<!-- example:(?P=name):end -->",
    re.DOTALL,
)
_ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc):`(~?)([^`]+)`")


class HookDocError(ValueError):
    """A hookspec docstring that does not follow the layout, or a document
    whose markers are missing or whose example names no hook."""


@dataclass
class HookDoc:
    """One hook's docstring, parsed: text is reST inline markup."""

    name: str
    params: list[str]
    summary: str
    description: list[str]
    called: str
    #: ``[(name, text)]``, empty for ``Args: none.``
    args: list[tuple[str, str]]
    returns: str
    kind: str
    #: how a failing implementation is treated (from hookspecs' sets)
    failures: str = ""


def hook_specs() -> list[tuple[str, Callable[..., Any], dict[str, Any]]]:
    """Every hookspec in :mod:`az_os.hookspecs` in source order:
    ``(name, function, pluggy options)``."""
    from az_os import hookspecs

    found = []
    for name, fn in vars(hookspecs).items():
        opts = getattr(fn, "az_spec", None)
        if name.startswith("az_") and callable(fn) and opts is not None:
            found.append((name, fn, dict(opts)))
    return sorted(found, key=lambda item: item[1].__code__.co_firstlineno)


def _spec_kind(opts: dict[str, Any]) -> str:
    if opts.get("historic"):
        return "historic"
    return "firstresult" if opts.get("firstresult") else "all"


def _failures(name: str) -> str:
    from az_os.hookspecs import AZ_ERRORS_PROPAGATE, PROPAGATING_HOOKS

    if name in PROPAGATING_HOOKS:
        return "an implementation's exception reaches the caller"
    if name in AZ_ERRORS_PROPAGATE:
        return "isolated (a failing implementation is logged and skipped), but an `AzError` reaches the caller"
    return "isolated (a failing implementation is logged and skipped)"


def _join(lines: Sequence[str]) -> str:
    return " ".join(line.strip() for line in lines if line.strip())


def parse(name: str, fn: Callable[..., Any], opts: dict[str, Any]) -> HookDoc:
    """Parse one hookspec's docstring; raises :class:`HookDocError`."""

    def fail(problem: str) -> HookDocError:
        return HookDocError(f"hookspec {name}: {problem} (layout: see az_os.hookdoc)")

    doc = inspect.getdoc(fn)
    if not doc:
        raise fail("no docstring")
    lines = doc.splitlines()
    first = next((i for i, line in enumerate(lines) if _LABEL.match(line)), None)
    if first is None:
        raise fail("no 'Called:' line")
    head = "\n".join(lines[:first]).strip().split("\n\n")
    sections: dict[str, list[str]] = {}
    current = ""
    for line in lines[first:]:
        m = _LABEL.match(line)
        if m:
            current = m.group(1)
            if current in sections:
                raise fail(f"'{current}:' twice")
            sections[current] = [m.group(2) or ""]
        else:
            sections[current].append(line)
    missing = [label for label in _LABELS if label not in sections]
    if missing:
        raise fail(f"no '{missing[0]}:' line")
    if list(sections) != list(_LABELS):
        raise fail(f"sections must come in the order {', '.join(_LABELS)}")
    kind = _join(sections["Kind"]).rstrip(".")
    if kind != _spec_kind(opts):
        raise fail(f"'Kind: {kind}' but the spec is {_spec_kind(opts)}")
    params = list(inspect.signature(fn).parameters)
    args = _parse_args(sections["Args"], fail)
    named = [a.split("(", 1)[0] for a, _ in args]
    if named != params:
        raise fail(f"'Args:' names {named or 'none'}, the signature {params or 'none'}")
    return HookDoc(
        name=name,
        params=params,
        summary=_join(head[0].splitlines()),
        description=[_join(p.splitlines()) for p in head[1:] if p.strip()],
        called=_join(sections["Called"]),
        args=args,
        returns=_join(sections["Returns"]),
        kind=kind,
        failures=_failures(name),
    )


def _parse_args(lines: list[str], fail: Callable[[str], HookDocError]) -> list[tuple[str, str]]:
    inline, rest = lines[0].strip(), lines[1:]
    if inline:
        if inline.rstrip(".") != "none" or any(line.strip() for line in rest):
            raise fail("'Args:' is 'none.' or one indented 'name: text' line per argument")
        return []
    body = textwrap.dedent("\n".join(rest)).splitlines()
    args: list[tuple[str, str]] = []
    for line in body:
        if not line.strip():
            continue
        m = _ARG.match(line)
        if m and not line[0].isspace():
            args.append((m.group(1), m.group(2)))
        elif args and line[0].isspace():
            args[-1] = (args[-1][0], f"{args[-1][1]} {line.strip()}")
        else:
            raise fail(f"'Args:' line {line.strip()!r} is not 'name: text'")
    return args


def markdown(text: str) -> str:
    """reST inline markup as Markdown: ````x```` to `` `x` ``, roles to code
    (``:class:`~a.b.C``` to `` `C` ``, without ``~`` the full name)."""

    def role(m: re.Match[str]) -> str:
        target = m.group(2)
        return f"`{target.rsplit('.', 1)[-1] if m.group(1) else target}`"

    text = _ROLE.sub(role, text)
    return text.replace("``", "`")


def _wrap(text: str, first: str = "", rest: str = "") -> str:
    return textwrap.fill(
        markdown(text),
        WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _paragraphs(doc: str) -> list[str]:
    """A module docstring's paragraphs as Markdown (``- `` lists kept)."""
    out = []
    for para in doc.strip().split("\n\n"):
        lines = para.splitlines()
        if lines[0].startswith("- "):
            items: list[list[str]] = []
            for line in lines:
                if line.startswith("- "):
                    items.append([line[2:]])
                else:
                    items[-1].append(line)
            out.append("\n".join(_wrap(_join(item), "- ", "  ") for item in items))
        else:
            out.append(_wrap(_join(lines)))
    return out


def render_hook(hook: HookDoc) -> str:
    """One hook's reference section (without its example)."""
    parts = [f"## {hook.name}({', '.join(hook.params)})", _wrap(hook.summary)]
    parts += [_wrap(p) for p in hook.description]
    items = [
        _wrap(f"Kind: {hook.kind}; {hook.failures}.", "- ", "  "),
        _wrap(f"Called: {hook.called}", "- ", "  "),
    ]
    if hook.args:
        items.append("- Args:")
        items += [_wrap(f"``{name}``: {text}", "  - ", "    ") for name, text in hook.args]
    else:
        items.append("- Args: none.")
    items.append(_wrap(f"Returns: {hook.returns}", "- ", "  "))
    parts.append("\n".join(items))
    return "\n\n".join(parts)


def hooks() -> list[HookDoc]:
    """Every hook's parsed docstring, in source order; raises :class:`HookDocError`."""
    return [parse(name, fn, opts) for name, fn, opts in hook_specs()]


def _example(name: str, examples: dict[str, str]) -> str:
    body = examples.get(name, "")
    return f"<!-- example:{name}:start -->\n{body}<!-- example:{name}:end -->"


def render(examples: dict[str, str]) -> str:
    """The whole block between (and including) the reference markers, with
    ``examples`` (name -> Markdown, each ending in a newline) put back."""
    from az_os import hookspecs

    parsed = hooks()
    unknown = sorted(set(examples) - {OVERVIEW, *(h.name for h in parsed)})
    if unknown:
        raise HookDocError(
            f"example block for {', '.join(unknown)}, which is no hook: "
            "rename or remove it (it would be lost)"
        )
    note = (
        "<!-- Generated from the docstrings in kernel/az_os/hookspecs.py: edit them, then run\n"
        f"     `{COMMAND}`.\n"
        "     Only the blocks between example markers are written by hand. -->"
    )
    parts = [
        START,
        note,
        *_paragraphs(inspect.getdoc(hookspecs) or ""),
        _example(OVERVIEW, examples),
    ]
    parts.append("---")
    for hook in parsed:
        parts += [render_hook(hook), _example(hook.name, examples)]
    parts.append(END)
    return "\n\n".join(parts)


def examples_of(text: str) -> dict[str, str]:
    """The hand-written example blocks of a document: name -> body."""
    found: dict[str, str] = {}
    for m in _EXAMPLE.finditer(text):
        if m.group("name") in found:
            raise HookDocError(f"two example blocks named {m.group('name')}")
        found[m.group("name")] = m.group("body")
    return found


def update(text: str) -> str:
    """``text`` (a document with the reference markers) with its reference
    part rendered again from the docstrings, hand-written parts kept."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise HookDocError(f"the document needs one '{START}' line and, after it, one '{END}'")
    before, rest = text.split(START, 1)
    inside, after = rest.split(END, 1)
    return before + render(examples_of(inside)) + after


def check(path: Path) -> str | None:
    """``None`` when ``path`` matches the docstrings, else a one-line message
    saying which command brings it up to date."""
    text = path.read_text(encoding="utf-8")
    if update(text) == text:
        return None
    return f"{path} does not match the hookspec docstrings (kernel/az_os/hookspecs.py): run `{COMMAND}`"


def main(argv: Sequence[str] | None = None) -> int:
    """``--write PATH`` rewrites the reference part; ``--check PATH`` exits 1
    (with the fix on stderr) when it is out of date. Exit 2 on a docstring
    or document that does not follow the layout."""
    parser = argparse.ArgumentParser(
        prog="python -m az_os.hookdoc",
        description="Render the hook reference of docs/plugin-hooks.md from the hookspec docstrings.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="PATH", type=Path, help="rewrite the reference in PATH")
    mode.add_argument("--check", metavar="PATH", type=Path, help="exit 1 if PATH is out of date")
    ns = parser.parse_args(argv)
    try:
        if ns.check is not None:
            problem = check(ns.check)
            if problem:
                sys.stderr.write(problem + "\n")
                return 1
            return 0
        text = ns.write.read_text(encoding="utf-8")
        new = update(text)
        if new != text:
            ns.write.write_text(new, encoding="utf-8")
            sys.stdout.write(f"updated {ns.write}\n")
        return 0
    except (HookDocError, OSError) as exc:
        sys.stderr.write(f"hookdoc: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
