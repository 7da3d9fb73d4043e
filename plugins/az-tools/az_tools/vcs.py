"""``git.log``: the workspace's git history, read-only.

Why a tool and not ``shell.execute("git log")``: it is read-only, so the
``read-only`` approval mode (the default for server tasks) runs it without
asking, and its result is JSON a model can quote without parsing git's
text. Small models also find "what is the last commit" far more often
through a tool named for it than through a shell command.

Only a repository whose top is the workspace is read
(``GIT_CEILING_DIRECTORIES`` stops git from looking above it), so the
history of a repository around the workspace stays outside, as every other
path outside does.

git runs with its own binary (``git`` on ``PATH``, no GitPython) and only
plumbing that executes nothing from the repository's configuration:
``rev-parse``, ``symbolic-ref``, ``rev-list --count`` and ``log`` with a
fixed ``--format`` and no patches. Signature checks (``gpg.program``),
the fsmonitor hook, pagers and terminal prompts are switched off on the
command line, and ``GIT_OPTIONAL_LOCKS=0`` keeps git from writing the
index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from az_os.tools import ToolContext
from az_os.types import ToolSpec

from az_tools.base import BuiltinTool, ToolFailure, fit_items, output_limit
from az_tools.workspace import resolve, workspace_root

#: Seconds any one git command may take before the call fails.
GIT_TIMEOUT_S = 20.0
#: Most commits one call returns (``max_count``'s upper bound).
MAX_COMMITS = 200
#: Longest commit body kept per commit (characters); the subject is kept whole.
BODY_MAX_CHARS = 500

#: Options before every git subcommand: nothing configured in the repository
#: may run a program or page the output.
_SAFE_OPTIONS = [
    "--no-pager",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "log.showSignature=false",
    "-c",
    "core.quotePath=false",
    "-c",
    "i18n.logOutputEncoding=UTF-8",
]
#: Field and record separators of the ``log`` format (ASCII US and RS).
_US, _RS = "\x1f", "\x1e"
_FORMAT = f"%h{_US}%an{_US}%aI{_US}%s{_US}%b{_RS}"


def _env(root: Path) -> dict[str, str]:
    # no GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE inherited from the caller:
    # the repository is the workspace's and nothing else
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CEILING_DIRECTORIES=str(root.parent),
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_PAGER="cat",
        LC_ALL="C",
    )
    return env


def _git(root: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """Run ``git <args>`` in ``root``: ``(exit code, stdout)``; ToolFailure
    with git's own first line of stderr when the code is not in ``ok_codes``."""
    exe = shutil.which("git")
    if exe is None:
        raise ToolFailure("git is not installed (no 'git' on PATH)")
    try:
        proc = subprocess.run(
            [exe, *_SAFE_OPTIONS, *args],
            cwd=root,
            env=_env(root),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ToolFailure(f"git {args[0]} took longer than {GIT_TIMEOUT_S:g} s") from None
    if proc.returncode not in ok_codes:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = err[0] if err else f"exit code {proc.returncode}"
        raise ToolFailure(f"git {args[0]} failed: {reason.removeprefix('fatal: ')}")
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def _repository_top(root: Path) -> None:
    code, out = _git(root, "rev-parse", "--show-toplevel", ok_codes=(0, 128))
    if code != 0 or not out.strip():
        raise ToolFailure(
            "the workspace is not a git repository (no .git at its top); 'git init' makes one"
        )
    if Path(out.strip()).resolve() != root:
        raise ToolFailure("the workspace is inside a git repository, not at its top")


def _commits(text: str) -> list[dict[str, Any]]:
    rows = []
    for record in text.split(_RS):
        record = record.strip("\n")
        if not record:
            continue
        short, author, date, subject, body = (record.split(_US) + ["", "", "", "", ""])[:5]
        row: dict[str, Any] = {"hash": short, "author": author, "date": date, "subject": subject}
        body = body.strip()
        if body:
            row["body"] = body if len(body) <= BODY_MAX_CHARS else body[:BODY_MAX_CHARS] + "..."
        rows.append(row)
    return rows


class GitLogTool(BuiltinTool):
    """``git.log``: branch, commit count and the latest commits of the workspace's repository."""

    spec = ToolSpec(
        name="git.log",
        description=(
            "Show the git history of the workspace: the current branch, the number of commits "
            "and the latest commits (hash, author, date, message). Give 'path' for only the "
            "commits that changed that file or directory, 'max_count' for more or fewer. "
            'Returns {"branch", "commit_count", "commits": [{"hash", "author", "date", '
            '"subject", "body"}], "truncated"}; newest first, "branch" is null on a detached '
            "HEAD, commit_count counts every commit reachable from HEAD (for 'path': those "
            "that changed it), truncated is true when the output limit cut the list."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "max_count": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_COMMITS,
                    "default": 10,
                    "description": f"How many of the latest commits to show (1-{MAX_COMMITS}).",
                },
                "path": {
                    "type": "string",
                    "description": "Only commits that changed this file or directory "
                    "(relative to the workspace).",
                },
            },
            "required": [],
            "additionalProperties": False,
        },
        category="vcs",
        read_only=True,
    )

    def execute(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        root = workspace_root(ctx)
        _repository_top(root)
        pathspec: list[str] = []
        where = resolve(ctx, args["path"]) if args.get("path") else None
        if where is not None and where.shown != ".":  # "." is the whole history
            # ':(literal)' so '*' or ':' in a name is never a pattern or magic
            pathspec = ["--", f":(literal){where.shown}"]
        _, ref = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD", ok_codes=(0, 1))
        branch = ref.strip() or None
        code, _ = _git(root, "rev-parse", "--verify", "--quiet", "HEAD", ok_codes=(0, 1))
        if code != 0:  # a new repository: no commit yet
            return {"branch": branch, "commit_count": 0, "commits": [], "truncated": False}
        _, count = _git(root, "rev-list", "--count", "HEAD", *pathspec)
        n = int(args.get("max_count") or 10)
        _, text = _git(
            root, "log", f"--max-count={n}", "--no-color", f"--format={_FORMAT}", "HEAD", *pathspec
        )
        commits, cut = fit_items(_commits(text), output_limit(ctx))
        total = int(count.strip() or 0)
        return {
            "branch": branch,
            "commit_count": total,
            "commits": commits,
            "truncated": cut,
        }
