"""Structure-aware chunking: code by definitions, Markdown by headings, text by paragraphs.

A :class:`Chunk` is a span of one file, ``start``-``end`` (1-based line
numbers, inclusive), with its ``text`` and what it is (``kind``: ``function``,
``class``, ``module``, ``section``, ``paragraph``, ``lines``) and, for code
and Markdown, a ``symbol`` (``Class.method``, ``Install > From source``).

* Python is parsed with :mod:`ast`: each top-level function, each class (or,
  for a long class, its header and each method) and the module-level code
  between them. A file that does not parse is chunked as plain lines.
* JavaScript, TypeScript, Go, Rust, Java, C and C++ are parsed with
  tree-sitter by the same rules (:mod:`az_rag.treesitter`); without their
  grammar they are chunked as text.
* Markdown is cut at headings (not inside fenced code), long sections at
  paragraphs.
* Other text is cut at blank lines and paragraphs are merged up to
  :data:`MAX_CHARS`.

No chunk is longer than :data:`MAX_LINES` lines or about :data:`MAX_CHARS`
characters; longer definitions are cut into consecutive windows.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

#: most lines in one chunk
MAX_LINES = 60
#: about the most characters in one chunk (the embedding model reads 256 tokens ≈ 1,000 chars)
MAX_CHARS = 1500

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".rst"})
PYTHON_SUFFIXES = frozenset({".py", ".pyi"})


@dataclass(frozen=True)
class Chunk:
    """One span of a file (lines ``start``-``end``, 1-based, inclusive)."""

    start: int
    end: int
    text: str
    kind: str
    symbol: str = ""


def _window(lines: list[str], start: int, end: int, kind: str, symbol: str) -> list[Chunk]:
    """Lines ``start``-``end`` (1-based) as chunks within the size limits."""
    out: list[Chunk] = []
    first = start
    while first <= end:
        last = first
        size = len(lines[first - 1])
        while last < end and last - first + 1 < MAX_LINES and size + len(lines[last]) < MAX_CHARS:
            size += len(lines[last]) + 1
            last += 1
        text = "\n".join(lines[first - 1 : last]).strip("\n")
        if text.strip():
            out.append(Chunk(first, last, text, kind, symbol))
        first = last + 1
    return out


def chunk_lines(text: str, kind: str = "lines") -> list[Chunk]:
    """Consecutive windows that prefer to end at blank lines."""
    lines = text.splitlines()
    out: list[Chunk] = []
    block_start = None
    for i, line in enumerate(lines + [""], start=1):
        if line.strip():
            if block_start is None:
                block_start = i
            continue
        if block_start is not None:
            out.extend(_window(lines, block_start, i - 1, kind, ""))
            block_start = None
    return _merge_small(out)


def _merge_small(chunks: list[Chunk]) -> list[Chunk]:
    """Join neighbouring small chunks of the same kind up to the limits."""
    out: list[Chunk] = []
    for c in chunks:
        if (
            out
            and out[-1].kind == c.kind
            and out[-1].symbol == c.symbol
            and len(out[-1].text) + len(c.text) < MAX_CHARS
            and c.end - out[-1].start < MAX_LINES
        ):
            prev = out[-1]
            out[-1] = Chunk(prev.start, c.end, prev.text + "\n\n" + c.text, c.kind, c.symbol)
        else:
            out.append(c)
    return out


def chunk_text(text: str) -> list[Chunk]:
    """Plain text by paragraphs."""
    return chunk_lines(text, "paragraph")


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def chunk_markdown(text: str) -> list[Chunk]:
    """Markdown by headings; each chunk's symbol is its heading path."""
    lines = text.splitlines()
    sections: list[tuple[int, int, str]] = []  # (start, end, heading path)
    path: list[tuple[int, str]] = []
    start, title = 1, ""
    in_fence = False
    for i, line in enumerate(lines, start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            if i > start:
                sections.append((start, i - 1, title))
            level = len(m.group(1))
            path = [p for p in path if p[0] < level] + [(level, m.group(2))]
            title = " > ".join(p[1] for p in path)
            start = i
    if start <= len(lines):
        sections.append((start, len(lines), title))
    out: list[Chunk] = []
    for s, e, t in sections:
        body = "\n".join(lines[s - 1 : e])
        if not body.strip():
            continue
        if len(body) <= MAX_CHARS and e - s < MAX_LINES:
            out.append(Chunk(s, e, body.strip("\n"), "section", t))
            continue
        for c in chunk_lines(body, "section"):
            out.append(Chunk(c.start + s - 1, c.end + s - 1, c.text, "section", t))
    return out


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])  # type: ignore[attr-defined]


def chunk_python(text: str) -> list[Chunk]:
    """Python by definitions (functions, classes, methods, module code)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return chunk_lines(text, "lines")
    lines = text.splitlines()
    out: list[Chunk] = []
    covered_to = 0

    def module_code(upto: int) -> None:
        nonlocal covered_to
        if upto > covered_to:
            for c in chunk_lines("\n".join(lines[covered_to:upto]), "module"):
                out.append(Chunk(c.start + covered_to, c.end + covered_to, c.text, "module"))
        covered_to = max(covered_to, upto)

    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        first, last = _first_line(node), node.end_lineno or node.lineno
        module_code(first - 1)
        size = sum(len(x) + 1 for x in lines[first - 1 : last])
        if isinstance(node, ast.ClassDef):
            if size <= MAX_CHARS and last - first < MAX_LINES:
                out.append(
                    Chunk(first, last, "\n".join(lines[first - 1 : last]), "class", node.name)
                )
            else:
                methods = [
                    n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
                head_end = (_first_line(methods[0]) - 1) if methods else last
                out.extend(_window(lines, first, head_end, "class", node.name))
                prev_end = head_end
                for m in methods:
                    m_first, m_last = _first_line(m), m.end_lineno or m.lineno
                    if m_first - 1 > prev_end:
                        out.extend(_window(lines, prev_end + 1, m_first - 1, "class", node.name))
                    out.extend(_window(lines, m_first, m_last, "function", f"{node.name}.{m.name}"))
                    prev_end = m_last
                if last > prev_end:
                    out.extend(_window(lines, prev_end + 1, last, "class", node.name))
        else:
            out.extend(_window(lines, first, last, "function", node.name))
        covered_to = last
    module_code(len(lines))
    return [c for c in out if c.text.strip()]


def chunk_file(name: str, text: str) -> list[Chunk]:
    """Chunks of a file by its name's suffix: Python, Markdown, the languages
    of :mod:`az_rag.treesitter` (when their grammar is installed), else text."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix in PYTHON_SUFFIXES:
        return chunk_python(text)
    if suffix in MARKDOWN_SUFFIXES:
        return chunk_markdown(text)
    from az_rag.treesitter import SUFFIXES, chunk_code

    if suffix in SUFFIXES:
        chunks = chunk_code(SUFFIXES[suffix], text)
        if chunks is not None:
            return chunks
    return chunk_text(text)
