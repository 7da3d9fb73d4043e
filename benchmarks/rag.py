"""Retrieval quality and speed of az-rag, on a real codebase the tests never see.

    python benchmarks/rag.py                  # quality on rich's source + latency at 10k chunks
    python benchmarks/rag.py --skip-quality --chunks 10000 100000   # latency at 10k and 100k
    python benchmarks/rag.py --skip-scale     # quality only

Quality: 60 questions about the ``rich`` library (installed with az: the
kernel depends on it), each labelled with the module that answers it; the
questions were written from rich's documentation topics, not from az-rag's
results. recall@5 is the share of questions whose module is among the top 5
chunks' files; MRR the mean of 1/rank of the first chunk from that module.
Both for dense (vector store only), BM25 only and hybrid (reciprocal-rank
fusion).

Scale: a collection of N real chunks cut from the installed Python sources
(site-packages, then the standard library), each embedded for real by the
default model from its first 200 characters (see SCALE_CHARS), plus the BM25
index over them. Building 100k takes a long while on 2 cores, so each size is
built once into ``--cache`` (default ``~/.cache/az-bench/rag/scale-N``, an az
home of its own, with the recipe it was built from; an interrupted build
resumes) and reused by later runs. Then, in a store opened afresh, search
p50/p95 over 180 queries that are embedded for real each time (dense, BM25
and hybrid through ``RagIndex.search``, as ``semantic.search`` calls it),
and the process's peak RSS. Index throughput of whole chunks is the rich
line.

``--bulk random`` (for a busy machine, where embedding 100k chunks takes
hours): the same chunks' texts, but each stored with a seeded random unit
vector of the model's 384 dimensions (numpy, seed 15) written straight into
the chroma collection, instead of its embedding. The queries are still
embedded for real and BM25 still indexes the real texts. Random vectors have
no cluster structure, which for an HNSW index is the harder case; dense
results are meaningless there, only their time counts. Numbers depend on the machine; run it on an idle one.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

# (question, the module of rich that answers it)
QUESTIONS: list[tuple[str, str]] = [
    ("draw a table with columns and rows in the terminal", "table.py"),
    ("add a column to a table with a header and justification", "table.py"),
    ("show a progress bar while iterating over a sequence", "progress.py"),
    ("estimate the time remaining of a long running task", "progress.py"),
    ("display a spinner animation while work is happening", "spinner.py"),
    ("show a status message with a spinner using a context manager", "status.py"),
    ("render a tree of nested items with guide lines", "tree.py"),
    ("print markdown formatted text to the console", "markdown.py"),
    ("syntax highlight source code with line numbers", "syntax.py"),
    ("pretty print a nested python data structure", "pretty.py"),
    ("install a nicer exception traceback handler", "traceback.py"),
    ("show local variables in a traceback frame", "traceback.py"),
    ("logging handler that renders log records with colour", "logging.py"),
    ("draw a border around content with a title", "panel.py"),
    ("the characters used to draw table and panel borders", "box.py"),
    ("parse console markup like [bold red]text[/]", "markup.py"),
    ("escape square brackets so they are not treated as markup", "markup.py"),
    ("parse a colour given by name, hex code or rgb", "color.py"),
    ("downgrade a truecolor colour to 256 or 16 colours", "color.py"),
    ("combine text attributes such as bold italic underline into a style", "style.py"),
    ("a named set of styles loaded from a config file", "theme.py"),
    ("text with styled spans that can be wrapped and justified", "text.py"),
    ("highlight numbers and strings in output with regular expressions", "highlighter.py"),
    ("ask the user for input with a default and validate the choice", "prompt.py"),
    ("ask a yes or no confirmation question", "prompt.py"),
    ("update a renderable live on screen many times per second", "live.py"),
    ("split the terminal screen into rows and columns regions", "layout.py"),
    ("arrange renderables in neat columns like ls output", "columns.py"),
    ("center content horizontally or vertically in the available space", "align.py"),
    ("add space around a renderable on each side", "padding.py"),
    ("a horizontal line with a title across the terminal", "rule.py"),
    ("render emoji codes like :smiley: to characters", "emoji.py"),
    ("convert text containing ANSI escape sequences into styled text", "ansi.py"),
    ("compute how many terminal cells a unicode string occupies", "cells.py"),
    ("measure the minimum and maximum width a renderable needs", "measure.py"),
    ("a piece of text with a style used as the unit of rendering", "segment.py"),
    ("detect the terminal width and whether colour is supported", "console.py"),
    ("record console output and export it as html or svg", "console.py"),
    ("page long output through a pager", "pager.py"),
    ("pretty print json with indentation and highlighting", "json.py"),
    ("format a number of bytes as a human readable size like 1.2 MB", "filesize.py"),
    ("inspect an object and show its attributes and methods", "_inspect.py"),
    ("show the local variables of the caller in a table", "scope.py"),
    ("render a solid bar like a histogram bar", "bar.py"),
    ("the visual bar inside a progress display with pulse animation", "progress_bar.py"),
    ("wrap a file so writes go through the console", "file_proxy.py"),
    ("terminal control codes to move the cursor or clear the screen", "control.py"),
    ("constrain a renderable to a maximum width", "constrain.py"),
    ("the default style definitions for repr and log output", "default_styles.py"),
    ("colour palettes for windows and standard terminals", "_palettes.py"),
    ("the list of spinner animations and their frames", "_spinners.py"),
    ("render objects in jupyter notebooks", "jupyter.py"),
    ("protocol for objects that render themselves to the console", "protocol.py"),
    ("an alternate screen mode for full screen applications", "screen.py"),
    ("apply a style to any renderable", "styled.py"),
    ("split a ratio of space between items with minimum sizes", "_ratio.py"),
    ("windows console api calls to write text and set attributes", "_win32_console.py"),
    ("a rich repr protocol that yields fields of an object", "repr.py"),
    ("word wrapping of text into lines of a given width", "_wrap.py"),
    ("error raised when a style string cannot be parsed", "errors.py"),
]


#: characters of each chunk embedded for the scale collection: search time does
#: not depend on a document's length (HNSW compares vectors), and embedding
#: every chunk whole would take an hour on 2 cores
SCALE_CHARS = 200
#: queries timed per mode at scale (each embedded for real)
SCALE_QUERIES = 180


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quality(config, root: Path) -> None:  # type: ignore[no-untyped-def]
    from az_rag.index import RagIndex

    idx = RagIndex(config, root, "bench-rich")
    t = time.perf_counter()
    report = idx.index()
    took = time.perf_counter() - t
    print(
        f"indexed rich {root.parent.name}: {report.files_indexed} files, {report.chunks_total} "
        f"chunks in {took:.1f} s ({report.chunks_total / took:.1f} chunks/s)"
    )
    print(f"{len(QUESTIONS)} labelled questions")
    print(f"{'mode':<8} {'recall@5':>9} {'MRR':>6} {'p50 ms':>7}")
    for mode in ("dense", "bm25", "hybrid"):
        hits, rr, times = 0, 0.0, []
        for question, module in QUESTIONS:
            t = time.perf_counter()
            results = idx.search(question, k=10, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
            files = [Path(r.path).name for r in results]
            if module in files[:5]:
                hits += 1
            if module in files:
                rr += 1 / (files.index(module) + 1)
        print(
            f"{mode:<8} {hits / len(QUESTIONS):>9.2f} {rr / len(QUESTIONS):>6.3f} "
            f"{statistics.median(times):>7.1f}"
        )


def scale_docs(n_chunks: int) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    """The first ``n_chunks`` chunks of the installed Python sources
    (site-packages, then the standard library), in a fixed order."""
    import sysconfig

    from az_rag.chunking import chunk_file

    docs: list[tuple[str, str, dict]] = []  # type: ignore[type-arg]
    for key in ("purelib", "stdlib"):
        base = Path(sysconfig.get_paths()[key])
        for path in sorted(base.rglob("*.py")):
            if key == "stdlib" and "site-packages" in path.parts:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            rel = f"{key}/{path.relative_to(base).as_posix()}"
            for i, c in enumerate(chunk_file(path.name, text)):
                docs.append(
                    (f"{rel}#{i}", f"{rel} {c.symbol}\n{c.text[:SCALE_CHARS]}", {"path": rel})
                )
                if len(docs) >= n_chunks:
                    return docs
    return docs


def scale(n_chunks: int, cache: Path, bulk: str = "real") -> None:
    """Time searches over a collection of ``n_chunks`` real chunks, built
    once into ``cache`` (an az home of its own) and reused by later runs.
    ``bulk="random"`` stores seeded random unit vectors instead of the
    chunks' embeddings (see the module docstring)."""
    import json

    import chromadb
    from az_chroma.embedding import DIMENSIONS, MODEL_ID
    from az_os.config import load_config
    from az_os.vectors import close_all, get_vectorstore
    from az_rag.index import RagIndex

    home = cache / f"scale-{n_chunks}-{bulk}"
    home.mkdir(parents=True, exist_ok=True)
    config = load_config({**os.environ, "AZ_HOME": str(home)})
    # what the cached index was built from: another value rebuilds it
    recipe = {"chunks": n_chunks, "chars": SCALE_CHARS, "model": MODEL_ID,
              "chromadb": chromadb.__version__, "python": sys.version.split()[0], "bulk": bulk}  # fmt: skip
    stamp = home / "recipe.json"
    name = "bench-scale"
    idx = RagIndex(config, home, name)
    store = get_vectorstore(config)
    if stamp.is_file() and json.loads(stamp.read_text()) != recipe:
        print(f"\nscale: {stamp} was built from another recipe: rebuilding", file=sys.stderr)
        idx.drop()
        stamp.unlink()
    docs = scale_docs(n_chunks)
    coll = store.collection(name)
    have = coll.count()
    print(f"\nscale: {len(docs)} chunks of Python sources, index in {home}")
    if have < len(docs) or not stamp.is_file():
        # chunks go in, in order, 256 at a time: an interrupted build resumes at coll.count()
        t = time.perf_counter()
        batch = 256
        rng = __import__("numpy").random.default_rng(15)
        for i in range(have - have % batch, len(docs), batch):
            part = docs[i : i + batch]
            if bulk == "random":
                # the backend's own chromadb collection, given vectors: the
                # contract's upsert always embeds the text
                vecs = rng.standard_normal((len(part), DIMENSIONS)).astype("float32")
                vecs /= __import__("numpy").linalg.norm(vecs, axis=1, keepdims=True)
                coll._raw.upsert(  # type: ignore[attr-defined]
                    ids=[d[0] for d in part], embeddings=vecs, documents=[d[1] for d in part],
                    metadatas=[d[2] for d in part],
                )  # fmt: skip
            else:
                coll.upsert([d[0] for d in part], [d[1] for d in part], [d[2] for d in part])
            done = i + len(part)
            if (i // batch) % 20 == 0 or done == len(docs):
                rate = (done - have) / (time.perf_counter() - t)
                verb = "stored (random vectors)" if bulk == "random" else "embedded"
                print(f"  {done}/{len(docs)} {verb} ({rate:.0f} chunks/s)", file=sys.stderr)
        took = time.perf_counter() - t
        if len(docs) > have:
            print(
                f"index build: {len(docs) - have} chunks in {took:.0f} s "
                f"({(len(docs) - have) / took:.1f} chunks/s, "
                + (
                    "random vectors, nothing embedded)"
                    if bulk == "random"
                    else "embedding included)"
                )
            )
        files: dict[str, dict] = {}  # type: ignore[type-arg]
        for cid, text, meta in docs:
            entry = files.setdefault(
                meta["path"], {"size": 0, "mtime_ns": 0, "sha256": "", "chunks": []}
            )
            entry["chunks"].append([cid, 1, 1, "lines", "", text.split("\n", 1)[-1]])
        idx.manifest["files"] = files
        t = time.perf_counter()
        idx._build_bm25()
        idx._save()
        print(f"BM25 index build: {time.perf_counter() - t:.1f} s")
        stamp.write_text(json.dumps(recipe))
    else:
        print(f"reusing the index built earlier ({have} chunks; delete {home} to rebuild)")
    assert coll.count() == len(docs), (coll.count(), len(docs))
    close_all()  # measure a store opened as a task opens it
    idx = RagIndex(config, home, name)
    t = time.perf_counter()
    idx.search("open the store", k=5)
    print(
        f"first search (opens the store, loads the model and BM25): {time.perf_counter() - t:.2f} s"
    )
    # queries the collection was not built from; each is embedded for real
    queries = [q for q, _ in QUESTIONS] + [f"how does {q}" for q, _ in QUESTIONS]
    queries += [f"where is the code to {q}" for q, _ in QUESTIONS]
    queries = queries[:SCALE_QUERIES]
    for mode in ("dense", "bm25", "hybrid"):
        times = []
        for q in queries:
            t = time.perf_counter()
            idx.search(q, k=5, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p50 = times[len(times) // 2]
        p95 = times[int(len(times) * 0.95)]
        print(
            f"search {mode:<7} at {len(docs)} chunks: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"({len(times)} queries)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--chunks", type=int, nargs="+", default=[10_000],
        help="collection sizes for the scale test (e.g. --chunks 10000 100000)",
    )  # fmt: skip
    ap.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "az-bench" / "rag", help="where the scale collections are built once and kept",
    )  # fmt: skip
    ap.add_argument(
        "--bulk", choices=("real", "random"), default="real",
        help="scale collections' vectors: the chunks' embeddings, or seeded random unit vectors",
    )  # fmt: skip
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("AZ_HOME", tempfile.mkdtemp(prefix="az-rag-bench-"))
    import rich
    from az_os.config import load_config

    config = load_config()
    print(f"az home {config.home}; {os.cpu_count()} cores")
    if not args.skip_quality:
        quality(config, Path(rich.__file__).parent)
    if not args.skip_scale:
        for n in args.chunks:
            scale(n, args.cache, args.bulk)
    print(f"peak RSS: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
