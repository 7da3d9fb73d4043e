"""The checkpoint object store: one bare git repository per workspace, under the az home.

Layout: ``<az home>/checkpoints/<name>-<hash>.git`` (``<name>`` is the
workspace directory's name, ``<hash>`` the first 16 hex digits of the SHA-256
of its absolute path) and a lock file next to it. The store has its own
index; its work tree is the workspace. Every git command runs with
``GIT_DIR``, ``GIT_WORK_TREE`` and ``GIT_INDEX_FILE`` pointing at the store,
so nothing in the user's own repository (HEAD, branches, index, stash,
reflog, config) is read for writing or written: az never runs a writing git
command against it.

What a snapshot holds: every file ``git add -A`` would add in the workspace,
so ``.gitignore`` files (also those above the workspace, up to the user's
repository root), the user's ``.git/info/exclude`` and the global
``core.excludesFile`` are respected. Files larger than ``max_file_bytes``
are left out, listed in the checkpoint, and never deleted by a restore.
Content is stored as it is on disk: the store's ``info/attributes`` turns off
every filter, end-of-line conversion and encoding (they would change bytes).
Symlinks are stored as symlinks, the executable bit is kept.

When the workspace is inside a git repository (and not ignored by it), the
store's work tree is that repository's top directory and every command is
limited to the workspace (pathspec ``.`` from the workspace), so ignore rules
mean what they mean to the user's git. Directories holding another
repository inside the workspace are recorded as git does (a gitlink), not
their files.

Concurrency: every operation that writes the store holds a
:class:`filelock.FileLock` on ``<store>.lock`` (cross-process), so two tasks
writing one workspace take turns instead of corrupting the index.

Speed: a checkpoint runs three git commands (``ls-files`` finds what
changed since the last one, one scan of the workspace with git's stat cache;
``add`` of just those paths; ``write-tree``); the commit object and its ref
are written in process (GitPython's ``gitdb`` loose object database, and
the ref file). Unchanged files are never read again.
``benchmarks/checkpoints.py`` measures it.

Errors are :class:`StoreError` (an :class:`~az_os.errors.AzError`) with one
line: git missing, a workspace that no longer exists, a damaged store, a
lock held too long.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from az_os.errors import AzError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from git import Git

#: Default size cap: files larger than this many bytes are left out (10 MB).
DEFAULT_MAX_FILE_BYTES = 10_000_000
#: Seconds to wait for another process's checkpoint before giving up.
LOCK_TIMEOUT_S = 120.0
STORE_DIR = "checkpoints"
REF_PREFIX = "refs/az/cp/"
HEAD_REF = "refs/az/head"
#: Every filter, EOL conversion and encoding off: a snapshot holds the bytes on disk.
ATTRIBUTES = "* -text -filter -ident -working-tree-encoding\n"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "az",
    "GIT_AUTHOR_EMAIL": "az@localhost",
    "GIT_COMMITTER_NAME": "az",
    "GIT_COMMITTER_EMAIL": "az@localhost",
}
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class StoreError(AzError):
    """A checkpoint store problem, in one line."""


class ExternalChangesError(AzError):
    """The workspace changed since az's last checkpoint (someone else edited
    it). ``files`` are ``(status, path)`` pairs (git's ``A``/``M``/``D``...),
    ``diff`` the unified diff from the last checkpoint to now."""

    def __init__(self, message: str, files: list[tuple[str, str]], diff: str) -> None:
        super().__init__(message)
        self.files = files
        self.diff = diff


@dataclass
class Snapshot:
    """One recorded state of the workspace.

    ``commit``/``tree`` are git object ids in the store; ``left_out`` lists
    ``(path, size in bytes)`` of files over the size cap; ``changed`` says
    whether the tree differs from the previous snapshot; ``duration_ms`` is
    the wall time it took.
    """

    commit: str
    tree: str
    left_out: list[tuple[str, int]] = field(default_factory=list)
    changed: bool = True
    duration_ms: float = 0.0


def git_missing_error() -> StoreError:
    return StoreError(
        "git is not installed or not on PATH: az-git needs the git command "
        "(e.g. 'apt install git', 'brew install git')"
    )


def require_git() -> str:
    """The path of the git executable; StoreError when there is none."""
    exe = os.environ.get("GIT_PYTHON_GIT_EXECUTABLE") or shutil.which("git")
    if not exe:
        raise git_missing_error()
    return exe


def store_path(home: Path, workspace: Path) -> Path:
    """The store directory for ``workspace`` (absolute) under az home ``home``."""
    key = hashlib.sha256(str(workspace).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", workspace.name or "root")[:40]
    return home / STORE_DIR / f"{slug}-{key}.git"


def find_repository(start: Path) -> tuple[Path, Path] | None:
    """``(top directory, common git dir)`` of the repository containing
    ``start``, found by looking for ``.git`` upwards (no git command run);
    None outside a repository. A ``.git`` file (worktree, submodule) is
    followed to its git dir and its ``commondir``."""
    for d in (start, *start.parents):
        dot = d / ".git"
        if dot.is_dir():
            return d, dot
        if dot.is_file():
            try:
                text = dot.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = Path(text[len("gitdir:") :].strip())
            gitdir = gitdir if gitdir.is_absolute() else (d / gitdir)
            common = gitdir
            try:
                rel = (gitdir / "commondir").read_text(encoding="utf-8").strip()
                common = Path(rel) if Path(rel).is_absolute() else gitdir / rel
            except OSError:
                pass
            return d, common.resolve()
    return None


def _one_line(exc: Exception) -> str:
    from git.exc import GitCommandError

    if isinstance(exc, GitCommandError):
        text = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr or "")
        lines = [ln.strip() for ln in text.replace("stderr:", "").splitlines() if ln.strip()]
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        return (fatal or lines or [f"git {exc.command[1] if exc.command else ''} failed"])[0].strip(
            "'"
        )
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class WorkspaceStore:
    """The checkpoint store of one workspace.

    ``WorkspaceStore(workspace, home, max_file_bytes=10_000_000)``: nothing is
    created until the first :meth:`snapshot`. ``workspace`` must be an
    existing directory (StoreError otherwise: moved or deleted).
    """

    def __init__(
        self,
        workspace: Path | str,
        home: Path | str,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        ws = Path(workspace).expanduser()
        if not ws.is_dir():
            raise StoreError(
                f"workspace {ws} does not exist or is not a directory (moved or deleted?)"
            )
        self.workspace = ws.resolve()
        self.home = Path(home)
        self.path = store_path(self.home, self.workspace)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.max_file_bytes = max_file_bytes
        self._git: Git | None = None
        self._odb: Any = None
        self._loose_refs = True
        self._worktree: Path | None = None
        self._user_exclude: Path | None = None

    # -- set-up ----------------------------------------------------------
    @property
    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's cross-process lock (waits up to LOCK_TIMEOUT_S)."""
        from filelock import FileLock, Timeout

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_S)
        try:
            with lock:
                yield
        except Timeout:
            raise StoreError(
                f"another az process has held the checkpoint lock {self.lock_path} for "
                f"{LOCK_TIMEOUT_S:.0f} s; try again when it is done"
            ) from None

    def _env(self, worktree: Path) -> dict[str, str]:
        env = {
            "GIT_DIR": str(self.path),
            "GIT_WORK_TREE": str(worktree),
            "GIT_INDEX_FILE": str(self.path / "index"),
            # never take the user's index.lock for an opportunistic refresh
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_LITERAL_PATHSPECS": "0",
            "GIT_TERMINAL_PROMPT": "0",
            **_IDENTITY,
        }
        # variables that would point git at another object store or repository
        for var in ("GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", "GIT_NAMESPACE"):
            if var in os.environ:
                env[var] = (
                    str(self.path / "objects")
                    if var == "GIT_OBJECT_DIRECTORY"
                    else str(self.path)
                    if var == "GIT_COMMON_DIR"
                    else ""
                )
        if "GIT_ALTERNATE_OBJECT_DIRECTORIES" in os.environ:
            env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = ""
        return env

    def _import_git(self) -> Any:
        require_git()
        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
        try:
            import git
        except ImportError as exc:  # GitPython could not run git
            raise git_missing_error() from exc
        return git

    def _open(self, create: bool) -> Git:
        """The GitPython command object for this store (created with
        ``create``); NotFoundError when there is no store and not ``create``."""
        if self._git is not None:
            return self._git
        git = self._import_git()
        if not self.path.exists():
            if not create:
                raise NotFoundError(f"no checkpoints yet for workspace {self.workspace}")
            self._create(git)
        cfg = self.path / "config"
        if not (self.path / "HEAD").is_file() or not (self.path / "objects").is_dir():
            raise self._damaged("HEAD or objects missing")
        try:
            text = cfg.read_text(encoding="utf-8")
        except OSError as exc:
            raise self._damaged(f"cannot read its config: {exc.strerror}") from None
        m = re.search(r"^\s*worktree\s*=\s*(.+)$", text, re.M)
        worktree = Path(_unquote(m.group(1))) if m else self.workspace
        if not worktree.is_dir():
            raise StoreError(
                f"the directory {worktree} this checkpoint store records no longer exists "
                "(moved or deleted?)"
            )
        self._worktree = worktree
        self._loose_refs = "refstorage" not in text.lower()
        found = find_repository(self.workspace)
        if found is not None and found[0] == worktree:
            self._user_exclude = found[1] / "info" / "exclude"
        g = git.Git(str(self.workspace))
        g.update_environment(**self._env(worktree))
        self._git = g
        return g

    def _create(self, git: Any) -> None:
        """``git init --bare`` the store and choose its work tree."""
        worktree = self.workspace
        found = find_repository(self.workspace)
        if found is not None and found[0] != self.workspace:
            top = found[0]
            rel = self.workspace.relative_to(top).as_posix()
            if not _ignored_by_user_repo(git, top, rel):
                worktree = top
        tmp = self.path.with_name(self.path.name + f".new-{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            g = git.Git(str(self.path.parent))
            env = {k: v for k, v in self._env(worktree).items() if k.startswith("GIT_A")}
            g.execute(
                ["git", "init", "--bare", "-q", "--template=", str(tmp)],
                env={**env, "GIT_DIR": str(tmp)},
            )
            (tmp / "info").mkdir(exist_ok=True)
            (tmp / "info" / "attributes").write_text(ATTRIBUTES, encoding="utf-8")
            settings = {
                "core.bare": "false",
                "core.worktree": str(worktree),
                "core.autocrlf": "false",
                "core.safecrlf": "false",
                "core.symlinks": "true",
                "core.filemode": "true",
                "core.fsmonitor": "false",
                "core.untrackedCache": "true",
                "core.quotePath": "false",
                "core.logAllRefUpdates": "false",
                "gc.auto": "0",
                # fast zlib for the loose objects each checkpoint writes (a quarter less CPU
                # on a first checkpoint of source files; about the same size)
                "core.looseCompression": "1",
                "advice.addEmbeddedRepo": "false",
                "advice.addIgnoredFile": "false",
                "index.version": "4",
                "az.workspace": str(self.workspace),
            }
            with (tmp / "config").open("a", encoding="utf-8") as f:
                sections: dict[str, list[tuple[str, str]]] = {}
                for key, value in settings.items():
                    sec, name = key.split(".", 1)
                    sections.setdefault(sec, []).append((name, value))
                for sec, items in sections.items():
                    f.write(f"[{sec}]\n")
                    for name, value in items:
                        f.write(f"\t{name} = {_quote(value)}\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if self.path.exists():  # another process made it first
                return
            raise StoreError(f"cannot create the checkpoint store {self.path}: {exc}") from None
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(
                f"cannot create the checkpoint store {self.path}: {_one_line(exc)}"
            ) from None

    def _damaged(self, why: str) -> StoreError:
        return StoreError(
            f"the checkpoint store {self.path} is damaged ({why}); move it aside "
            f"(mv {self.path} {self.path}.broken) and az starts a new one"
        )

    def _run(self, *args: str, **kwargs: Any) -> str:
        g = self._open(create=False)
        try:
            out: str = g.execute(["git", *args], **kwargs)
        except Exception as exc:
            from git.exc import GitCommandError

            if isinstance(exc, GitCommandError):
                line = _one_line(exc)
                low = line.lower()
                if any(
                    w in low
                    for w in (
                        "corrupt",
                        "bad object",
                        "not a git repository",
                        "loose object",
                        "index file",
                        "bad signature",
                        "packfile",
                        "unable to read",
                    )
                ):
                    raise self._damaged(line) from None
                raise StoreError(f"git {args[0]} failed in the checkpoint store: {line}") from None
            raise
        return out

    # -- excludes --------------------------------------------------------
    def _sync_excludes(self) -> None:
        """The store's ``info/exclude`` mirrors the user's repository one."""
        text = ""
        if self._user_exclude is not None:
            try:
                text = self._user_exclude.read_text(encoding="utf-8", errors="surrogateescape")
            except OSError:
                text = ""
        target = self.path / "info" / "exclude"
        try:
            current = target.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            current = None
        if current != text:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8", errors="surrogateescape")

    def _changed_files(self) -> tuple[list[str], list[tuple[str, int]], list[str]]:
        """One scan of the workspace against the store's index (``ls-files
        -o -m``, ignore rules applied): ``(paths to add or remove, [(path,
        bytes)] over the cap, paths over the cap already in the index)``."""
        out = self._run("ls-files", "-z", "-t", "-o", "-m", "--exclude-standard", "--", ".")
        changed: list[str] = []
        big: dict[str, int] = {}
        tracked: list[str] = []
        seen: set[str] = set()
        for entry in out.split("\0"):
            if len(entry) < 3:
                continue
            tag, path = entry[0], entry[2:]
            if path in seen:
                continue
            seen.add(path)
            try:
                size = os.lstat(self.workspace / path).st_size
            except OSError:
                changed.append(path)  # deleted: add -A removes it
                continue
            if size > self.max_file_bytes:
                big[path] = size
                if tag != "?":
                    tracked.append(path)
            else:
                changed.append(path)
        return changed, sorted(big.items()), tracked

    # -- snapshots -------------------------------------------------------
    def _stage(self) -> tuple[str, list[tuple[str, int]]]:
        """Bring the store's index to the workspace as it is now; returns
        ``(tree id, files left out)``. Call with the lock held.

        The workspace is scanned once (``ls-files``); ``add`` then looks only
        at the paths found, so a checkpoint after a small change costs one
        scan and hashes only the changed files."""
        self._open(create=True)
        self._sync_excludes()
        changed, big, tracked = self._changed_files()
        if tracked:
            self._run("update-index", "--force-remove", "--", *tracked)
        if changed:
            spec = b"".join(
                f":(literal){p}".encode("utf-8", "surrogateescape") + b"\0" for p in changed
            )
            with tempfile.TemporaryFile() as f:
                f.write(spec)
                f.seek(0)
                self._run("add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul", istream=f)
        return self._run("write-tree").strip(), big

    def head(self) -> tuple[str, str] | None:
        """``(commit, tree)`` of the last state az recorded or restored, or None."""
        try:
            text = (self.path / "az-head").read_text(encoding="utf-8").split()
        except OSError:
            return None
        return (text[0], text[1]) if len(text) == 2 else None

    def _set_head(self, commit: str, tree: str) -> None:
        tmp = self.path / f"az-head.{os.getpid()}"
        tmp.write_text(f"{commit} {tree}\n", encoding="utf-8")
        os.replace(tmp, self.path / "az-head")

    def _set_ref(self, ref: str, commit: str) -> None:
        """Point ``ref`` at ``commit``. The store keeps refs as loose files
        (git's ``files`` backend), written like git does: a ``.lock`` file
        renamed over the ref; a store using another ref backend gets ``git
        update-ref``. Call with the lock held."""
        if not self._loose_refs:
            self._run("update-ref", ref, commit)
            return
        path = self.path / ref
        lock = path.with_name(path.name + ".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.write_text(commit + "\n", encoding="ascii")
            os.replace(lock, path)
        except OSError as exc:
            raise self._damaged(f"cannot write {ref}: {exc.strerror or exc}") from None

    def _commit(self, tree: str, message: str) -> str:
        """Write a parentless commit of ``tree`` (az as author, now, UTC)
        straight into the store's object directory with GitPython's object
        database (no git command); returns its id."""
        import io

        from gitdb import IStream
        from gitdb.db import LooseObjectDB

        now = int(time.time())
        who = f"{_IDENTITY['GIT_AUTHOR_NAME']} <{_IDENTITY['GIT_AUTHOR_EMAIL']}> {now} +0000"
        data = f"tree {tree}\nauthor {who}\ncommitter {who}\n\n{message}".encode()
        try:
            if self._odb is None:
                self._odb = LooseObjectDB(str(self.path / "objects"))
            stream = self._odb.store(IStream(b"commit", len(data), io.BytesIO(data)))
        except OSError as exc:
            raise self._damaged(f"cannot write a commit: {exc}") from None
        sha = stream.hexsha
        return sha.decode() if isinstance(sha, bytes) else str(sha)

    def snapshot(
        self, checkpoint_id: str, meta: dict[str, Any] | None = None, *, _locked: bool = False
    ) -> Snapshot:
        """Record the workspace as checkpoint ``checkpoint_id`` (kept under
        ``refs/az/cp/<id>``). ``meta`` (JSON-ready: task id, turn, name,
        saved state) goes into the commit message and comes back from
        :meth:`metadata`. An unchanged workspace reuses the last commit when
        there is no state to store."""
        if not _locked:
            with self.locked():
                return self.snapshot(checkpoint_id, meta, _locked=True)
        start = time.perf_counter()
        tree, big = self._stage()
        return self._record(checkpoint_id, tree, big, meta, start)

    def _record(
        self,
        checkpoint_id: str,
        tree: str,
        big: list[tuple[str, int]],
        meta: dict[str, Any] | None,
        start: float,
    ) -> Snapshot:
        """Commit ``tree`` (just staged) as checkpoint ``checkpoint_id``."""
        head = self.head()
        meta = dict(meta or {})
        changed = head is None or head[1] != tree
        if head is not None and not changed and not meta.get("state") and not big:
            commit = head[0]
        else:
            meta["left_out"] = [[p, s] for p, s in big]
            title = f"az checkpoint {meta.get('name') or checkpoint_id}"
            commit = self._commit(tree, f"{title}\n\n{json.dumps(meta, sort_keys=True)}\n")
        self._set_ref(REF_PREFIX + checkpoint_id, commit)
        self._set_head(commit, tree)
        return Snapshot(
            commit=commit,
            tree=tree,
            left_out=big,
            changed=changed,
            duration_ms=(time.perf_counter() - start) * 1000,
        )

    def metadata(self, commit: str) -> dict[str, Any]:
        """The JSON a checkpoint commit carries (``{}`` for none)."""
        self._check_commit(commit)
        text = self._run("cat-file", "commit", commit)
        _, _, message = text.partition("\n\n")
        body = message.partition("\n\n")[2].strip()
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _check_commit(self, commit: str) -> None:
        if not _SHA.match(commit):
            raise StoreError(f"'{commit}' is not a commit id")
        try:
            kind = self._run("cat-file", "-t", commit).strip()
        except StoreError:
            kind = ""
        if kind != "commit":
            raise self._damaged(f"commit {commit[:12]} is missing")

    # -- comparing -------------------------------------------------------
    def changes(self, commit: str) -> list[tuple[str, str]]:
        """``(status, path)`` of what differs between checkpoint ``commit``
        and the workspace now (A added, M modified, D deleted, T type changed),
        paths relative to the workspace."""
        self._check_commit(commit)
        with self.locked():
            self._stage()
            out = self._run(
                "diff", "--cached", "--name-status", "-z", "--no-renames", "--relative", commit
            )
        parts = [p for p in out.split("\0") if p]
        return [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]

    def diff(self, commit: str, stat: bool = False, limit_lines: int | None = None) -> str:
        """The unified diff (or ``--stat``) from checkpoint ``commit`` to the
        workspace now; binary files are named, not shown."""
        self._check_commit(commit)
        with self.locked():
            self._stage()
            args = ["diff", "--cached", "--no-renames", "--relative", "--no-color"]
            out = self._run(*args, "--stat" if stat else "--patch", commit)
        return _limit(out, limit_lines)

    def _tree_diff(
        self, a: str, b: str, limit_lines: int | None
    ) -> tuple[list[tuple[str, str]], str]:
        names = self._run("diff", "--name-status", "-z", "--no-renames", "--relative", a, b)
        parts = [p for p in names.split("\0") if p]
        files = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        patch = self._run("diff", "--no-renames", "--relative", "--no-color", a, b)
        return files, _limit(patch, limit_lines)

    # -- restoring -------------------------------------------------------
    def restore(
        self,
        commit: str,
        pre_checkpoint_id: str,
        meta: dict[str, Any] | None = None,
        force: bool = False,
        diff_lines: int = 200,
    ) -> tuple[Snapshot, list[tuple[str, str]]]:
        """Put the workspace back to checkpoint ``commit``.

        First the workspace as it is now is compared with the last state az
        recorded: if someone else changed files since, raises
        :class:`ExternalChangesError` (files and diff, ``diff_lines`` lines at
        most) and nothing is changed, unless ``force``. Then the current
        state is recorded as checkpoint ``pre_checkpoint_id`` (so the restore
        can be undone), and files are rewritten: changed ones restored,
        created ones removed, deleted ones recreated. Ignored files and files
        over the size cap are never touched.

        Returns ``(the pre-restore snapshot, [(status, path)] changed in the
        workspace)``; status is what the restore did: ``A`` recreated,
        ``M`` rewritten, ``D`` removed, ``T`` type changed.
        """
        self._check_commit(commit)
        with self.locked():
            tree, big = self._stage()
            head = self.head()
            if head is not None and head[1] != tree and not force:
                files, patch = self._tree_diff(head[1], tree, diff_lines)
                if files:
                    raise ExternalChangesError(
                        f"{len(files)} file(s) in {self.workspace} changed since az's last "
                        "checkpoint (not by az); --force restores anyway (the changes are "
                        "kept in a checkpoint first)",
                        files,
                        patch,
                    )
            pre = self._record(
                pre_checkpoint_id,
                tree,
                big,
                {"name": "pre-restore", **(meta or {})},
                time.perf_counter(),
            )
            target_tree = self._run("rev-parse", f"{commit}^{{tree}}").strip()
            names = self._run(
                "diff", "--name-status", "-z", "--no-renames", "--relative", tree, target_tree
            )
            parts = [p for p in names.split("\0") if p]
            done = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
            self._run("read-tree", "--reset", "-u", target_tree)
            self._set_head(commit, target_tree)
            self._set_ref(HEAD_REF, commit)
            return pre, done

    def delete(self, checkpoint_id: str) -> None:
        """Forget checkpoint ``checkpoint_id``'s ref (its objects become
        unreachable unless another checkpoint holds the same state;
        :meth:`gc` frees them)."""
        if not self.path.exists():
            return
        with self.locked():
            self._run("update-ref", "-d", REF_PREFIX + checkpoint_id)

    def gc(self) -> None:
        """Drop objects no checkpoint refers to (``git gc --prune=now``)."""
        with self.locked():
            self._run("gc", "--quiet", "--prune=now")

    def fsck(self) -> str:
        """``git fsck --strict``'s output ('' when the store is sound)."""
        return self._run("fsck", "--strict", "--no-progress")


def _ignored_by_user_repo(git: Any, top: Path, rel: str) -> bool:
    """Whether the user's repository ignores directory ``rel`` (read-only
    ``git check-ignore``, never taking the index lock)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    import subprocess

    try:
        proc = subprocess.run(
            [require_git(), "check-ignore", "-q", "--", rel + "/"],
            cwd=top,
            env=env,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        value = re.sub(r"\\(.)", r"\1", value)
    return value


def _limit(text: str, limit_lines: int | None) -> str:
    if limit_lines is None:
        return text
    lines = text.splitlines()
    if len(lines) <= limit_lines:
        return text
    return "\n".join(lines[:limit_lines]) + f"\n[... {len(lines) - limit_lines} more lines]"
