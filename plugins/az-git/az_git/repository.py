"""The design brief's ``GitRepository``: a workspace's own git repository from Python.

Thin over GitPython (``git`` must be on ``PATH``). Unlike az's checkpoints
(:mod:`az_git.store`, kept outside the workspace's history), these methods
do write the user's repository, because the caller asks them to. One
safety net comes from the checkpoint store: :meth:`GitRepository.checkout`
first takes a checkpoint of the work tree named ``pre-checkout`` (when a
storage backend is installed), so ``az state restore pre-checkout`` brings
back the files a checkout replaced. Every method runs git in a worker
thread; GitPython is imported on first use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from az_os.errors import AzError, NotFoundError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

__all__ = ["GitError", "GitRepository"]

#: The checkpoint name :meth:`GitRepository.checkout` saves first.
PRE_CHECKOUT = "pre-checkout"


class GitError(AzError):
    """git refused an operation (one line: git's own reason)."""


class GitRepository:
    """``init``, ``commit``, ``checkout``, ``create_branch``, ``get_log`` on
    the repository at ``path`` (default: the current directory; :meth:`init`
    sets it). ``checkpoint``: take a ``pre-checkout`` checkpoint before a
    checkout (default true). ``config`` for the checkpoint store (default:
    the process's).

    Errors: :class:`GitError` when git refuses (uncommitted changes a
    checkout would overwrite, nothing to commit); :class:`~az_os.errors.NotFoundError`
    when ``path`` is not in a git repository (call :meth:`init`) or a file
    to commit does not exist; :class:`~az_os.errors.UsageError` for an
    empty message, an invalid branch name or a file outside the repository;
    :class:`~az_os.errors.AzError` when git is not installed.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        checkpoint: bool = True,
        config: AzConfig | None = None,
    ) -> None:
        self.path = Path(path or ".").expanduser().resolve()
        self.checkpoint = checkpoint
        self._config = config

    # -- the brief's methods -------------------------------------------------
    async def init(self, path: str) -> bool:
        """Make ``path`` (created if missing) a git repository and use it from
        now on. Returns True when a repository was created, False when
        ``path`` already was one (it is left as it is)."""
        import asyncio

        target = Path(path).expanduser().resolve()

        def run() -> bool:
            git = _git()
            target.mkdir(parents=True, exist_ok=True)
            try:
                git.Repo(target)
                created = False
            except git.InvalidGitRepositoryError:
                git.Repo.init(target)
                created = True
            self.path = target
            return created

        return await asyncio.to_thread(run)

    async def commit(self, message: str, files: list[str] | None = None) -> str:
        """Commit ``files`` (paths relative to the repository, or absolute
        inside it), or every change in the work tree (``git add -A``) when
        ``files`` is None. Returns the new commit's full SHA-1 (40 hex
        digits). Author and committer come from git's config (``user.name``,
        ``user.email``), else ``az <az@localhost>``."""
        import asyncio

        if not message or not message.strip():
            raise UsageError("a commit message is required")

        def run() -> str:
            repo = self._repo()
            if files is None:
                repo.git.add("-A")
            else:
                rels = [self._relative(repo, f) for f in files]
                missing = [r for r in rels if not (Path(repo.working_tree_dir) / r).exists()]
                tracked = set(repo.git.ls_files(*missing).splitlines()) if missing else set()
                absent = [r for r in missing if r not in tracked]
                if absent:
                    raise NotFoundError(f"no file {absent[0]!r} in {repo.working_tree_dir}")
                repo.git.add("-A", "--", *rels)
            if repo.head.is_valid() and not repo.index.diff("HEAD"):
                raise GitError(f"nothing to commit in {repo.working_tree_dir}")
            if not repo.head.is_valid() and not list(repo.index.entries):
                raise GitError(f"nothing to commit in {repo.working_tree_dir}")
            args = ["-m", message, "--no-verify"]
            try:
                repo.git.commit(*args, env=_identity(repo))
            except _git().GitCommandError as exc:
                raise GitError(_reason(exc)) from None
            return str(repo.head.commit.hexsha)

        return await asyncio.to_thread(run)

    async def checkout(self, branch: str) -> bool:
        """Switch the work tree to ``branch``. Returns False when there is
        no such branch (nothing changes). Takes a ``pre-checkout``
        checkpoint first (see the module docstring). Raises
        :class:`GitError` when git refuses, e.g. uncommitted changes it
        would overwrite."""
        import asyncio

        def run() -> bool:
            repo = self._repo()
            if branch not in [h.name for h in repo.heads]:
                return False
            if self.checkpoint:
                self._checkpoint(Path(str(repo.working_tree_dir)))
            try:
                repo.git.checkout(branch, "--")
            except _git().GitCommandError as exc:
                raise GitError(_reason(exc)) from None
            return True

        return await asyncio.to_thread(run)

    async def create_branch(self, branch: str) -> bool:
        """Create ``branch`` at the current commit (without switching to
        it). Returns False when it exists already. Raises UsageError for a
        name git does not accept and GitError before the first commit."""
        import asyncio

        def run() -> bool:
            git = _git()
            repo = self._repo()
            try:
                repo.git.check_ref_format("--branch", branch)
            except git.GitCommandError:
                raise UsageError(f"{branch!r} is not a valid branch name") from None
            if branch in [h.name for h in repo.heads]:
                return False
            if not repo.head.is_valid():
                raise GitError("no commit yet: commit before creating a branch")
            repo.create_head(branch)
            return True

        return await asyncio.to_thread(run)

    async def get_log(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest ``limit`` commits of the current branch, newest first:
        ``[{"sha": 40 hex digits, "message": full message, "summary": first
        line, "author", "email", "date": ISO 8601 UTC, "parents": [sha]}]``;
        ``[]`` before the first commit."""
        import asyncio

        if limit < 1:
            raise UsageError(f"limit must be >= 1, got {limit}")

        def run() -> list[dict[str, Any]]:
            repo = self._repo()
            if not repo.head.is_valid():
                return []
            return [
                {
                    "sha": c.hexsha,
                    "message": str(c.message).rstrip("\n"),
                    "summary": str(c.summary),
                    "author": c.author.name,
                    "email": c.author.email,
                    "date": datetime.fromtimestamp(c.committed_date, UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "parents": [p.hexsha for p in c.parents],
                }
                for c in repo.iter_commits(max_count=limit)
            ]

        return await asyncio.to_thread(run)

    # -- helpers -------------------------------------------------------------
    def _repo(self) -> Any:
        git = _git()
        try:
            return git.Repo(self.path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise NotFoundError(
                f"{self.path} is not in a git repository (GitRepository.init creates one)"
            ) from None

    @staticmethod
    def _relative(repo: Any, file: str) -> str:
        top = Path(str(repo.working_tree_dir)).resolve()
        path = Path(file)
        full = (path if path.is_absolute() else top / path).resolve()
        if full != top and top not in full.parents:
            raise UsageError(f"{file!r} is outside the repository {top}")
        return full.relative_to(top).as_posix()

    def _checkpoint(self, workspace: Path) -> None:
        """The ``pre-checkout`` checkpoint; skipped when no storage backend
        is installed (there is nowhere to record it)."""
        from az_os.errors import PluginMissingError

        from az_git.manager import Checkpoints

        try:
            Checkpoints(self._config).save(workspace, name=PRE_CHECKOUT)
        except PluginMissingError:
            return


def _git() -> Any:
    """GitPython, imported on first use (AzError when git is missing)."""
    from az_git.store import require_git

    require_git()
    import git

    return git


def _identity(repo: Any) -> dict[str, str]:
    """Environment for ``git commit``: az's identity only where git's config has none."""
    import os

    env = dict(os.environ)
    reader = repo.config_reader()
    if not reader.get_value("user", "name", ""):
        env.setdefault("GIT_AUTHOR_NAME", "az")
        env.setdefault("GIT_COMMITTER_NAME", "az")
    if not reader.get_value("user", "email", ""):
        env.setdefault("GIT_AUTHOR_EMAIL", "az@localhost")
        env.setdefault("GIT_COMMITTER_EMAIL", "az@localhost")
    return env


def _reason(exc: Any) -> str:
    """git's own one-line reason from a GitCommandError."""
    text = (getattr(exc, "stderr", "") or str(exc)).strip().strip("'").strip()
    for line in text.splitlines():
        line = line.strip().removeprefix("stderr:").strip().strip("'")
        if line:
            return line
    return text or "git failed"
