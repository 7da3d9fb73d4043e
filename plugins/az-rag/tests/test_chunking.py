"""Structure-aware chunking (no model, no store)."""

from __future__ import annotations

import textwrap

import pytest
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


# -- other languages, by tree-sitter -------------------------------------------
GO = textwrap.dedent(
    """\
    // Package web serves the shop's HTTP API.
    package web

    import (
    \t"fmt"
    \t"net/http"
    )

    // Server holds the listener settings.
    type Server struct {
    \tAddr string
    \tmux  *http.ServeMux
    }

    // NewServer returns a server on addr.
    func NewServer(addr string) *Server {
    \treturn &Server{Addr: addr, mux: http.NewServeMux()}
    }

    // Start listens until the process ends.
    func (s *Server) Start() error {
    \tfmt.Println("listening on", s.Addr)
    \treturn http.ListenAndServe(s.Addr, s.mux)
    }
    """
)

RUST = textwrap.dedent(
    """\
    use std::fmt;

    /// A last-in, first-out stack.
    #[derive(Debug, Default)]
    pub struct Stack<T> {
        items: Vec<T>,
    }

    impl<T> Stack<T> {
        /// An empty stack.
        pub fn new() -> Self {
            Stack { items: Vec::new() }
        }
    }

    pub fn depth<T>(s: &Stack<T>) -> usize {
        s.items.len()
    }
    """
)

TS = textwrap.dedent(
    """\
    import { Item } from "./item";

    export interface Priced {
      price(): number;
    }

    /** Sum of the prices, in cents. */
    export function total(items: Priced[]): number {
      return items.reduce((sum, i) => sum + i.price(), 0);
    }

    export const discount = (cents: number, pct: number): number =>
      Math.round(cents * (1 - pct / 100));

    export class Cart {
      private items: Item[] = [];

      add(item: Item): void {
        this.items.push(item);
      }
    }
    """
)

JS = textwrap.dedent(
    """\
    'use strict';
    const path = require('path');

    function slugify(text) {
      return text.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    }

    class Cache {
      constructor() { this.map = new Map(); }
      get(key) { return this.map.get(key); }
    }

    module.exports = { slugify, Cache };
    """
)

JAVA = textwrap.dedent(
    """\
    package shop;

    import java.util.List;

    /** Says hello. */
    public class Greeter {
        private final String name;

        public Greeter(String name) {
            this.name = name;
        }
    }
    """
)

C = textwrap.dedent(
    """\
    #include <stdlib.h>

    /* A node of a singly linked list. */
    struct node {
        int value;
        struct node *next;
    };

    static struct node *push(struct node *head, int value) {
        struct node *n = malloc(sizeof *n);
        n->value = value;
        n->next = head;
        return n;
    }
    """
)

CPP = textwrap.dedent(
    """\
    #include <cmath>

    class Circle {
     public:
      explicit Circle(double r) : r_(r) {}
      double area() const;
     private:
      double r_;
    };

    double Circle::area() const { return M_PI * r_ * r_; }

    template <typename T>
    T square(T x) {
      return x * x;
    }
    """
)


def _shape(name: str, src: str) -> list[tuple[str, str, int, int]]:
    chunks = chunk_file(name, src)
    lines = src.splitlines()
    for c in chunks:  # every chunk is exactly its lines
        assert c.text == "\n".join(lines[c.start - 1 : c.end]).strip("\n")
    return [(c.kind, c.symbol, c.start, c.end) for c in chunks]


@pytest.mark.parametrize(
    ("name", "src", "want"),
    [
        pytest.param("server.go", GO, [
            ("module", "", 1, 7),
            ("class", "Server", 9, 13),  # the comment above belongs to it
            ("function", "NewServer", 15, 18),
            ("function", "Server.Start", 20, 24),  # a method is named by its receiver
        ], id="go"),
        pytest.param("stack.rs", RUST, [
            ("module", "", 1, 1),
            ("class", "Stack", 3, 7),  # doc comment and #[derive] included
            ("class", "Stack", 9, 14),  # impl<T> Stack<T>
            ("function", "depth", 16, 18),
        ], id="rust"),
        pytest.param("cart.ts", TS, [
            ("module", "", 1, 1),
            ("class", "Priced", 3, 5),
            ("function", "total", 7, 10),
            ("function", "discount", 12, 13),  # an exported arrow function
            ("class", "Cart", 15, 21),
        ], id="typescript"),
        pytest.param("util.js", JS, [
            ("module", "", 1, 2),
            ("function", "slugify", 4, 6),
            ("class", "Cache", 8, 11),
            ("module", "", 13, 13),
        ], id="javascript"),
        pytest.param("Greeter.java", JAVA, [
            ("module", "", 1, 3),
            ("class", "Greeter", 5, 12),
        ], id="java"),
        pytest.param("list.c", C, [
            ("module", "", 1, 1),
            ("class", "node", 3, 7),
            ("function", "push", 9, 14),
        ], id="c"),
        pytest.param("shape.cpp", CPP, [
            ("module", "", 1, 1),
            ("class", "Circle", 3, 9),
            ("function", "Circle::area", 11, 11),
            ("function", "square", 13, 16),  # template<> belongs to it
        ], id="cpp"),
    ],
)  # fmt: skip
def test_other_languages_by_definitions_with_exact_lines(name, src, want):
    assert _shape(name, src) == want


def test_long_rust_impl_is_cut_into_its_methods():
    methods = "\n".join(
        f"    /// Method {i}.\n    pub fn m{i}(&self) -> u32 {{\n"
        + "".join(f"        let x{j} = {j};\n" for j in range(8))
        + "        x0\n    }\n"
        for i in range(8)
    )
    src = "impl<T: Clone> Big<T> {\n    const N: usize = 3;\n\n" + methods + "}\n"
    chunks = chunk_file("big.rs", src)
    assert (chunks[0].kind, chunks[0].symbol, chunks[0].start, chunks[0].end) == (
        "class",
        "Big",
        1,
        3,
    )
    assert [c.symbol for c in chunks[1:]] == [f"Big.m{i}" for i in range(8)]
    assert chunks[1].text.startswith("    /// Method 0.")  # its doc comment comes along
    assert all(c.kind == "function" and c.end - c.start < MAX_LINES for c in chunks[1:])


def test_long_js_class_is_cut_into_its_methods():
    body = "".join(
        f"  m{i}(a) {{\n" + "".join(f"    const v{j} = a + {j};\n" for j in range(10)) + "  }\n"
        for i in range(6)
    )
    src = "class Big extends Base {\n  static x = 1;\n" + body + "}\nexport default Big;\n"
    symbols = [(c.kind, c.symbol) for c in chunk_file("big.js", src)]
    assert symbols == [("class", "Big")] + [("function", f"Big.m{i}") for i in range(6)] + [
        ("module", "")
    ]


def test_broken_source_still_gives_chunks_of_every_line():
    src = "function ok() {\n  return 1;\n}\n\nfunction broken( {\n  return 2;\n"
    chunks = chunk_file("x.js", src)
    assert chunks[0].symbol == "ok"
    assert "return 2" in "\n".join(c.text for c in chunks)


def test_a_missing_grammar_falls_back_to_text(monkeypatch):
    import dataclasses

    from az_rag import treesitter

    monkeypatch.setitem(
        treesitter.LANGUAGES,
        "go",
        dataclasses.replace(treesitter.LANGUAGES["go"], module="no_such_grammar"),
    )
    monkeypatch.setattr(treesitter, "_parsers", {})
    chunks = chunk_file("server.go", GO)
    assert {c.kind for c in chunks} == {"paragraph"}
    assert chunks == chunk_text(GO)
