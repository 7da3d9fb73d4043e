"""Structure-aware chunking (no model, no store)."""

from __future__ import annotations

import textwrap

from az_rag.chunking import MAX_LINES, chunk_file, chunk_markdown, chunk_python, chunk_text

PY = textwrap.dedent(
    '''\
    """Module docstring."""
    import os

    LIMIT = 3


    def first(a, b):
        """Add two numbers."""
        return a + b


    @decorator
    def second():
        return os.sep


    class Small:
        x = 1

        def method(self):
            return self.x
    '''
)


def test_python_by_definitions_with_exact_lines():
    chunks = chunk_python(PY)
    got = [(c.kind, c.symbol, c.start, c.end) for c in chunks]
    assert got == [
        ("module", "", 1, 4),
        ("function", "first", 7, 9),
        ("function", "second", 12, 14),  # the decorator belongs to the function
        ("class", "Small", 17, 21),
    ]
    lines = PY.splitlines()
    for c in chunks:
        assert c.text == "\n".join(lines[c.start - 1 : c.end]).strip("\n")


def test_long_class_is_cut_into_its_methods():
    methods = "\n".join(
        f"    def m{i}(self):\n" + "".join(f"        x{j} = {j}\n" for j in range(8))
        for i in range(12)
    )
    src = "class Big:\n    '''Doc.'''\n\n" + methods
    chunks = chunk_python(src)
    symbols = [c.symbol for c in chunks]
    assert symbols[0] == "Big"
    assert "Big.m0" in symbols and "Big.m11" in symbols
    assert all(c.end - c.start < MAX_LINES for c in chunks)


def test_long_function_is_cut_into_windows():
    body = "".join(f"    v{i} = {i}\n" for i in range(200))
    chunks = chunk_python("def huge():\n" + body)
    assert len(chunks) >= 4
    assert {c.symbol for c in chunks} == {"huge"}
    assert chunks[0].start == 1 and chunks[-1].end == 201
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start == a.end + 1  # consecutive, nothing lost


def test_python_that_does_not_parse_is_still_chunked():
    chunks = chunk_file("broken.py", "def f(:\n    pass\n\n\nx = [1,\n")
    assert chunks and chunks[0].kind == "lines"


def test_markdown_by_headings_not_inside_code_fences():
    md = textwrap.dedent(
        """\
        # Title
        Intro text.

        ## Install
        Run this:

        ```bash
        # not a heading
        pip install az
        ```

        ## Use
        az task run
        """
    )
    chunks = chunk_markdown(md)
    assert [(c.symbol, c.start, c.end) for c in chunks] == [
        ("Title", 1, 3),
        ("Title > Install", 4, 11),
        ("Title > Use", 12, 13),
    ]
    assert "# not a heading" in chunks[1].text


def test_text_by_paragraphs():
    text = "First paragraph\nstill first.\n\nSecond one.\n\n\nThird."
    chunks = chunk_text(text)
    assert len(chunks) == 1  # small paragraphs merge up to the size limit
    assert chunks[0].start == 1 and chunks[0].end == 7
    big = "\n\n".join(("word " * 200).strip() for _ in range(3))
    parts = chunk_text(big)
    assert [(c.start, c.end) for c in parts] == [(1, 1), (3, 3), (5, 5)]


def test_empty_and_blank_files_give_no_chunks():
    assert chunk_file("a.py", "") == []
    assert chunk_file("a.md", "\n\n") == []
    assert chunk_file("a.txt", "   \n") == []
