"""Code by definitions for languages other than Python, parsed with tree-sitter.

The grammars are the tree-sitter project's own PyPI packages (prebuilt
wheels, nothing compiled or downloaded): ``tree-sitter-javascript``,
``-typescript``, ``-go``, ``-rust``, ``-java``, ``-c`` and ``-cpp``, on the
``tree-sitter`` bindings. They are imported the first time a file of their
language is chunked; :func:`chunk_code` returns ``None`` when the bindings or
the grammar are missing (or the grammar does not load), and the caller falls
back to chunking the file as text.

The chunks follow the Python chunker's rules (:mod:`az_rag.chunking`): each
top-level function (``function``), type (``class``: classes, structs,
enums, interfaces, traits, ``impl`` blocks, namespaces) and the module-level
code between them (``module``). A long container (more than
:data:`~az_rag.chunking.MAX_LINES` lines or about
:data:`~az_rag.chunking.MAX_CHARS` characters) is cut into its header and
each member definition, whose symbol is ``Container.member`` (``Server.Start``
for a Go method, ``Stack.push`` for a Rust ``impl Stack``). Comments and
attributes directly above a definition belong to it, as a decorator does in
Python. Line numbers are 1-based and inclusive.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from az_rag.chunking import MAX_CHARS, MAX_LINES, Chunk, _window, chunk_lines


@dataclass(frozen=True)
class Language:
    """What tree-sitter node types mean in one language."""

    #: the grammar's module and the function in it that returns the language
    module: str
    function: str
    #: node types that are functions or methods
    functions: frozenset[str]
    #: node types whose body holds more definitions (cut when long)
    containers: frozenset[str]
    #: other named definitions kept whole (type aliases, typedefs)
    types: frozenset[str] = frozenset()
    #: node types that wrap a definition (``export``, ``template<...>``)
    wrappers: frozenset[str] = frozenset()
    #: siblings that belong to the definition after them (comments, attributes)
    leading: frozenset[str] = frozenset({"comment", "line_comment", "block_comment"})
    #: variable declarations that define a function when their value is one
    variables: frozenset[str] = frozenset()
    values: frozenset[str] = field(default_factory=frozenset)


_JS_FUNCTIONS = frozenset(
    {"function_declaration", "generator_function_declaration", "method_definition",
     "function_signature", "method_signature", "abstract_method_signature"}
)  # fmt: skip
_JS_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function", "class"}
)
_JS = {
    "functions": _JS_FUNCTIONS,
    "containers": frozenset(
        {
            "class_declaration",
            "abstract_class_declaration",
            "interface_declaration",
            "enum_declaration",
            "internal_module",
            "module",
        }
    ),
    "types": frozenset({"type_alias_declaration"}),
    "wrappers": frozenset({"export_statement", "ambient_declaration"}),
    "variables": frozenset({"lexical_declaration", "variable_declaration"}),
    "values": _JS_VALUES,
}
_C_LIKE = {
    "functions": frozenset({"function_definition"}),
    "types": frozenset({"type_definition", "enum_specifier", "union_specifier"}),
    "leading": frozenset({"comment"}),
}

LANGUAGES: dict[str, Language] = {
    "javascript": Language("tree_sitter_javascript", "language", **_JS),  # type: ignore[arg-type]
    "typescript": Language("tree_sitter_typescript", "language_typescript", **_JS),  # type: ignore[arg-type]
    "tsx": Language("tree_sitter_typescript", "language_tsx", **_JS),  # type: ignore[arg-type]
    "go": Language(
        "tree_sitter_go",
        "language",
        functions=frozenset({"function_declaration", "method_declaration"}),
        containers=frozenset(),
        types=frozenset({"type_declaration"}),
    ),
    "rust": Language(
        "tree_sitter_rust",
        "language",
        functions=frozenset({"function_item", "function_signature_item", "macro_definition"}),
        containers=frozenset({"impl_item", "trait_item", "mod_item"}),
        types=frozenset({"struct_item", "enum_item", "union_item", "type_item"}),
        leading=frozenset({"line_comment", "block_comment", "attribute_item"}),
    ),
    "java": Language(
        "tree_sitter_java",
        "language",
        functions=frozenset({"method_declaration", "constructor_declaration"}),
        containers=frozenset(
            {
                "class_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
                "annotation_type_declaration",
            }
        ),
        leading=frozenset({"line_comment", "block_comment"}),
    ),
    "c": Language(
        "tree_sitter_c",
        "language",
        containers=frozenset({"struct_specifier"}),
        **_C_LIKE,  # type: ignore[arg-type]
    ),
    "cpp": Language(
        "tree_sitter_cpp",
        "language",
        containers=frozenset({"class_specifier", "struct_specifier", "namespace_definition"}),
        wrappers=frozenset({"template_declaration"}),
        **_C_LIKE,  # type: ignore[arg-type]
    ),
}

#: file suffix -> language
SUFFIXES: dict[str, str] = {
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
}  # fmt: skip

_parsers: dict[str, Any] = {}
_parsers_lock = threading.Lock()


def parser_for(language: str) -> Any | None:
    """A tree-sitter ``Parser`` for ``language`` (one per process and
    language), or None when the bindings or the grammar are not installed or
    do not load together (an ABI the bindings do not support)."""
    with _parsers_lock:
        if language not in _parsers:
            _parsers[language] = _load(LANGUAGES[language])
        return _parsers[language]


def _load(lang: Language) -> Any | None:
    import importlib

    try:
        import tree_sitter

        grammar = importlib.import_module(lang.module)
        return tree_sitter.Parser(tree_sitter.Language(getattr(grammar, lang.function)()))
    except (ImportError, AttributeError, ValueError, TypeError, OSError):
        return None


def _text(node: Any) -> str:
    raw: bytes = node.text or b""
    return raw.decode("utf-8", errors="replace")


def _declarator_name(node: Any) -> str:
    """The name a C/C++ declarator chain ends in (``Foo::bar`` of ``int *Foo::bar(int)``)."""
    d = node.child_by_field_name("declarator")
    while d is not None:
        if d.type in ("identifier", "field_identifier", "qualified_identifier",
                      "destructor_name", "operator_name", "type_identifier"):  # fmt: skip
            return _text(d)
        nxt = d.child_by_field_name("declarator")
        if nxt is None:
            named = [c for c in d.named_children if c.type.endswith("identifier")]
            return _text(named[0]) if named else ""
        d = nxt
    return ""


def _first_of(node: Any, kinds: tuple[str, ...]) -> Any | None:
    """The first descendant (depth first) whose type is one of ``kinds``."""
    stack = list(reversed(node.named_children))
    while stack:
        n = stack.pop()
        if n.type in kinds:
            return n
        stack.extend(reversed(n.named_children))
    return None


def _name(node: Any) -> str:
    t = node.type
    if t == "impl_item":  # Rust: the type the block implements for, without generics
        ty = node.child_by_field_name("type")
        return _text(ty).split("<", 1)[0].strip() if ty is not None else ""
    if t == "method_declaration" and node.child_by_field_name("receiver") is not None:  # Go
        recv = _first_of(node.child_by_field_name("receiver"), ("type_identifier",))
        name = node.child_by_field_name("name")
        method = _text(name) if name is not None else ""
        return f"{_text(recv)}.{method}" if recv is not None else method
    if t == "type_declaration":  # Go: type X struct {...}
        spec = _first_of(node, ("type_spec", "type_alias"))
        name = spec.child_by_field_name("name") if spec is not None else None
        return _text(name) if name is not None else ""
    if t in ("lexical_declaration", "variable_declaration"):
        decl = _first_of(node, ("variable_declarator",))
        name = decl.child_by_field_name("name") if decl is not None else None
        return _text(name) if name is not None else ""
    name = node.child_by_field_name("name")
    if name is not None:
        return _text(name)
    if t in ("function_definition", "type_definition"):
        return _declarator_name(node)
    return ""


def _classify(node: Any, lang: Language) -> tuple[str, Any] | None:
    """(``function``/``class``/``container``, the definition node) or None
    for code that is no definition. Wrappers are looked through."""
    t = node.type
    if t in lang.wrappers:
        decl = node.child_by_field_name("declaration")
        inner = [decl] if decl is not None else node.named_children
        for child in inner:
            found = _classify(child, lang)
            if found:
                return found
        return None
    if t in lang.functions:
        return "function", node
    if t in lang.containers:
        body = node.child_by_field_name("body")
        return ("container", node) if body is not None else ("class", node)
    if t in lang.types:
        return "class", node
    if t in lang.variables:
        decl = _first_of(node, ("variable_declarator",))
        value = decl.child_by_field_name("value") if decl is not None else None
        if value is not None and value.type in lang.values:
            return ("class" if value.type == "class" else "function"), node
    return None


class _Chunker:
    def __init__(self, lines: list[str], lang: Language) -> None:
        self.lines = lines
        self.lang = lang
        self.out: list[Chunk] = []

    def gap(self, first: int, last: int, kind: str, symbol: str) -> None:
        """Lines ``first``-``last`` that hold no definition."""
        if last < first:
            return
        body = "\n".join(self.lines[first - 1 : last])
        if not any(ch.isalnum() for ch in body):
            return  # closing braces and blank lines
        for c in chunk_lines(body, kind):
            self.out.append(Chunk(c.start + first - 1, c.end + first - 1, c.text, kind, symbol))

    def size(self, first: int, last: int) -> int:
        return sum(len(x) + 1 for x in self.lines[first - 1 : last])

    def block(self, children: list[Any], first: int, last: int, prefix: str, kind: str) -> None:
        """Definitions among ``children`` (of lines ``first``-``last``); the
        code between them becomes ``kind`` chunks of symbol ``prefix``."""
        covered = first - 1
        lead: int | None = None
        for node in children:
            start, end = node.start_point[0] + 1, node.end_point[0] + 1
            if node.type in self.lang.leading:
                if lead is None:
                    lead = start
                continue
            found = _classify(node, self.lang)
            if found is None:
                lead = None
                continue
            what, defn = found
            if lead is not None and lead > covered:
                start = lead
            lead = None
            start = max(start, covered + 1)
            self.gap(covered + 1, start - 1, kind, prefix.rstrip("."))
            name = _name(defn)
            symbol = f"{prefix}{name}" if name else prefix.rstrip(".")
            if what == "container":
                self.container(defn, start, end, symbol)
            else:
                self.out.extend(_window(self.lines, start, end, what, symbol))
            covered = max(covered, end)
        self.gap(covered + 1, last, kind, prefix.rstrip("."))

    def container(self, node: Any, first: int, last: int, symbol: str) -> None:
        if self.size(first, last) <= MAX_CHARS and last - first < MAX_LINES:
            self.out.append(
                Chunk(first, last, "\n".join(self.lines[first - 1 : last]), "class", symbol)
            )
            return
        body = node.child_by_field_name("body")
        members = list(body.named_children) if body is not None else []
        member_start = next(
            (
                m.start_point[0] + 1
                for m in members
                if m.type in self.lang.leading or _classify(m, self.lang)
            ),
            last + 1,
        )
        head_end = min(max(member_start - 1, first), last)
        self.out.extend(_window(self.lines, first, head_end, "class", symbol))
        self.block(members, head_end + 1, last, f"{symbol}." if symbol else "", "class")


def chunk_code(language: str, text: str) -> list[Chunk] | None:
    """Chunks of source ``text`` in ``language`` (a key of :data:`LANGUAGES`),
    or None when its grammar is not available."""
    parser = parser_for(language)
    if parser is None:
        return None
    try:
        tree = parser.parse(text.encode("utf-8", errors="replace"))
    except (ValueError, RuntimeError):
        return None
    lines = text.splitlines()
    chunker = _Chunker(lines, LANGUAGES[language])
    chunker.block(list(tree.root_node.named_children), 1, len(lines), "", "module")
    chunks = sorted(chunker.out, key=lambda c: c.start)
    return [c for c in chunks if c.text.strip()]
