"""Git, run safely: a clean environment (no GIT_* variable can point it elsewhere), no
prompt, no network, a timeout, and clear errors. Drill records and the platform
repository are read through it; the policy's repository root, and the commit and folder a
report names, are found with it."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Seconds a git command may take before the history counts as unreadable.
GIT_TIMEOUT_SECONDS = 60.0
#: Environment variables passed on to git: where the user's configuration is (it may hold
#: ``safe.directory``). Every other ``GIT_*`` variable (GIT_DIR, GIT_WORK_TREE,
#: GIT_INDEX_FILE, GIT_CONFIG_PARAMETERS from a hook...) could point git at another
#: repository or history, and is dropped.
GIT_ENV_KEPT = ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM")
SHALLOW = "shallow clone: fetch-depth 0 needed to see deleted evidence records"


class GitError(Exception):
    """Git history cannot be read (in full) where the drill records live."""

    code = "GitHistoryUnavailable"


def short(text: str, limit: int = 120) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def repository_root(policy_path: Path) -> Path:
    """The git work tree containing the policy file,
    or the policy file's directory when it is in none (or git cannot tell)."""
    directory = policy_path.resolve().parent
    return work_tree_of(directory) or directory


def work_tree_of(directory: Path) -> Path | None:
    """The top level of the git work tree holding ``directory``; None when it is in
    none, or git cannot tell."""
    try:
        top = os.fsdecode(run_git(directory, "rev-parse", "--show-toplevel")).strip()
    except GitError:
        return None
    return Path(top).resolve() if top else None


@dataclass(frozen=True)
class Checkout:
    """Where a directory is in git, as a report states it."""

    #: The commit audited: GITHUB_SHA in GitHub Actions, else the work tree's HEAD; None
    #: when neither is known.
    commit: str | None
    #: The directory relative to the work tree's top level ("" at the top level); None
    #: outside a work tree (a policy shipped inside the installed package).
    directory: str | None


def checkout_of(directory: Path) -> Checkout:
    """Where ``directory`` (resolved) is in git."""
    return Checkout(git_commit(directory), dir_in_repository(directory))


def dir_in_repository(directory: Path) -> str | None:
    """``directory`` relative to the top level of its git work tree ("" at the top
    level); None outside a work tree."""
    top = work_tree_of(directory)
    if top is None:
        return None
    relative = directory.relative_to(top)
    return "" if relative == Path(".") else relative.as_posix()


def git_commit(directory: Path) -> str | None:
    """The commit being audited: GITHUB_SHA in GitHub Actions, else the HEAD of the work
    tree holding ``directory``."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        return os.fsdecode(run_git(directory, "rev-parse", "HEAD")).strip() or None
    except GitError:
        return None


def git_env() -> dict[str, str]:
    """The environment git runs in: the user's configuration, nothing that redirects it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GIT_") or name in GIT_ENV_KEPT
    }
    env.update(
        GIT_TERMINAL_PROMPT="0",  # never wait for credentials
        GIT_NO_REPLACE_OBJECTS="1",  # `git replace` cannot rewrite the history read
        GIT_NO_LAZY_FETCH="1",  # no network for a missing object (git >= 2.45)
        GIT_OPTIONAL_LOCKS="0",
        LC_ALL="C",  # messages we recognise ("dubious ownership")
    )
    return env


def run_git(cwd: Path, *args: str, stdin: bytes | None = None, ok: tuple[int, ...] = (0,)) -> bytes:
    """Run git in ``cwd`` with a clean environment; raise GitError with a clear reason."""
    command = ["git", "--no-pager", "-c", "log.showSignature=false", "-c", "color.ui=never", *args]
    name = next(arg for arg in args if not arg.startswith("-"))
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=git_env(),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=GIT_TIMEOUT_SECONDS,
        )
    except FileNotFoundError as exc:
        if exc.filename == command[0]:
            raise GitError(
                "git is not installed (not on PATH): cannot read evidence history"
            ) from None
        raise GitError(f"git cannot run in {cwd}: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {name} in {cwd} timed out after {GIT_TIMEOUT_SECONDS:g} s") from None
    except OSError as exc:
        raise GitError(f"git cannot run: {exc.strerror or exc}") from None
    if completed.returncode not in ok:
        stderr = completed.stderr.decode("utf-8", "replace").strip()
        if "dubious ownership" in stderr:
            raise GitError(
                f"git refuses the repository at {cwd} (dubious ownership: owned by another "
                "user); add it to safe.directory (git config --global --add safe.directory "
                "PATH) to read evidence history"
            )
        if "not a git repository" in stderr:
            raise GitError(
                f"evidence directory {cwd} is not in a git repository: deleted evidence "
                "records cannot be looked up"
            )
        raise GitError(f"git {name} in {cwd} failed ({completed.returncode}): {short(stderr, 300)}")
    return completed.stdout


class GitHistory:
    """The git work tree holding a directory, checked to hold its full history."""

    def __init__(self, directory: Path, top: Path, prefix: str) -> None:
        self.directory, self.top, self.prefix = directory, top, prefix

    @classmethod
    def open(cls, directory: Path) -> "GitHistory":
        """Raise GitError unless ``directory`` is in a git work tree whose history is
        complete here: not shallow, not a partial clone, no grafts."""
        lines = (
            run_git(
                directory,
                "rev-parse",
                "--is-inside-work-tree",
                "--is-shallow-repository",
                "--git-path",
                "info/grafts",
                "--show-toplevel",
                "--show-prefix",
            )
            .decode("utf-8", "surrogateescape")
            .split("\n")
        )
        if len(lines) < 5 or lines[0] != "true":
            raise GitError(
                f"evidence directory {directory} is not in a git work tree: deleted evidence "
                "records cannot be looked up"
            )
        shallow, grafts, top, prefix = lines[1:5]
        if shallow == "true":
            raise GitError(f"{SHALLOW} (actions/checkout: fetch-depth: 0)")
        if (directory / grafts).exists():
            raise GitError(
                f"grafted history ({grafts}): deleted evidence records may be hidden; "
                "remove the grafts file"
            )
        promisor = run_git(
            directory,
            "config",
            "--get-regexp",
            r"^(extensions\.partialclone|remote\..*\.promisor)$",
            ok=(0, 1),
        )
        if promisor.strip():
            raise GitError(
                "partial clone (--filter): deleted evidence records may not be readable "
                "offline; clone without a filter, with fetch-depth 0"
            )
        return cls(directory, Path(top), prefix)

    def read_blobs(self, specs: list[bytes], max_bytes: int) -> list[str | None]:
        """The text of each ``commit^:path`` that is a blob of at most ``max_bytes``
        (else None), with two git processes whatever the number of records."""
        if not specs:
            return []
        readable = [b"\n" not in spec for spec in specs]
        checked = run_git(
            self.top,
            "cat-file",
            "--batch-check",
            stdin=b"".join(spec + b"\n" for spec, ok in zip(specs, readable, strict=True) if ok),
        ).split(b"\n")
        oids: list[bytes | None] = []
        answers = iter(checked)
        for ok in readable:
            fields = next(answers).split(b" ") if ok else []
            small = (
                len(fields) == 3
                and fields[1] == b"blob"
                and fields[2].isdigit()
                and int(fields[2]) <= max_bytes
            )
            oids.append(fields[0] if small else None)
        wanted = [oid for oid in oids if oid is not None]
        contents: dict[bytes, bytes] = {}
        if wanted:
            batch = run_git(self.top, "cat-file", "--batch", stdin=b"\n".join(wanted) + b"\n")
            position = 0
            try:
                while position < len(batch):
                    end = batch.index(b"\n", position)
                    oid, _, size = batch[position:end].split(b" ")
                    start = end + 1
                    contents[oid] = batch[start : start + int(size)]
                    position = start + int(size) + 1
            except ValueError:  # an answer we cannot read: those records count as unknown
                pass
        texts: list[str | None] = []
        for wanted_oid in oids:
            try:
                text = contents[wanted_oid].decode("utf-8") if wanted_oid is not None else None
                texts.append(text)
            except (KeyError, UnicodeDecodeError):
                texts.append(None)
        return texts
