"""The platform repository as a source of facts: the files of the audited commit (HEAD of
the git work tree holding the policy file), read once, read-only, through git.

Only committed content counts (what CI applies), never the working tree's edits. The
repository fails closed like drill records (see ``policycheck.sources.repository.records``):
no git, not a work tree, a shallow, partial or grafted clone, or a path outside the
repository is an error; a symbolic link is refused (never followed); a file larger than
:data:`MAX_FILE_BYTES` or not UTF-8 is unreadable. A path that is not on the commit is
absent, which the checks judge as a failure.
"""

import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from policycheck.git import GitError, GitHistory, run_git

#: The name under which repository facts ask for the repository (``ctx.client``).
REPOSITORY = "repository"
#: A file larger than this is refused without being read.
MAX_FILE_BYTES = 1024 * 1024

EntryKind = Literal["file", "directory", "symlink", "submodule"]
_KINDS: dict[bytes, EntryKind] = {b"blob": "file", b"tree": "directory", b"commit": "submodule"}
_SYMLINK_MODE = b"120000"


class RepositoryError(Exception):
    """The repository cannot be read in full (no git, shallow, partial clone...), or a
    path names something outside it: nothing it holds can be judged."""

    code = "RepositoryUnavailable"


class UnreadableFile(Exception):
    """A file of the commit that cannot be read as text (a symbolic link, too large, not
    UTF-8)."""

    code = "UnreadableRepositoryFile"


@dataclass(frozen=True)
class Entry:
    """One path of the audited commit."""

    path: str
    kind: EntryKind
    oid: str
    #: Bytes of a file; 0 for a directory or submodule.
    size: int


def normalised(path: str) -> str:
    """A path relative to the repository root, as git names it; RepositoryError when it
    is absolute or climbs out of the repository."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise RepositoryError(f"{path!r} is outside the repository")
    text = pure.as_posix()
    return "" if text == "." else text


class PlatformRepository:
    """The files of the commit checked out at ``root`` (listed once, each file read once)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] | None = None
        self._commit = ""
        self._problem: str | None = None
        self._texts: dict[str, str | UnreadableFile] = {}

    def _listing(self) -> dict[str, Entry]:
        with self._lock:
            if self._entries is None and self._problem is None:
                try:
                    self._entries = self._list()
                except GitError as exc:
                    self._problem = f"platform repository {self.root}: {exc}"
            if self._problem is not None:
                raise RepositoryError(self._problem)
            assert self._entries is not None
            return self._entries

    def _list(self) -> dict[str, Entry]:
        root = self.root.resolve()
        inside = run_git(root, "rev-parse", "--is-inside-work-tree", ok=(0, 128))
        if inside.strip() != b"true":
            raise GitError("not in a git work tree: the audited commit cannot be read")
        history = GitHistory.open(root)  # shallow, partial or grafted: an error
        top = history.top
        self._commit = run_git(top, "rev-parse", "--verify", "HEAD^{commit}").decode().strip()
        listing = run_git(top, "ls-tree", "-r", "-t", "-l", "-z", "--full-tree", self._commit)
        entries = {"": Entry("", "directory", self._commit, 0)}
        for line in listing.split(b"\0"):
            if not line:
                continue
            meta, _, raw_path = line.partition(b"\t")
            mode, kind, oid, size = meta.split()
            path = raw_path.decode("utf-8", "surrogateescape")
            entries[path] = Entry(
                path,
                "symlink" if mode == _SYMLINK_MODE else _KINDS.get(kind, "submodule"),
                oid.decode(),
                int(size) if size.isdigit() else 0,
            )
        return entries

    @property
    def commit(self) -> str:
        """The audited commit's id. Raises RepositoryError."""
        self._listing()
        return self._commit

    def entry(self, path: str) -> Entry | None:
        """The path on the audited commit (None: not there). Raises RepositoryError."""
        return self._listing().get(normalised(path))

    def files_under(self, directory: str, suffixes: tuple[str, ...]) -> list[Entry]:
        """Files and symbolic links below ``directory`` whose names end in ``suffixes``,
        by path. Raises RepositoryError."""
        prefix = normalised(directory)
        prefix = f"{prefix}/" if prefix else ""
        return [
            entry
            for path, entry in sorted(self._listing().items())
            if path.startswith(prefix)
            and path.endswith(suffixes)
            and entry.kind in ("file", "symlink")
        ]

    def texts(self, paths: list[str]) -> dict[str, str | UnreadableFile]:
        """The text of each file (or why it cannot be read), read with one git process
        for all the paths not read before. Raises RepositoryError."""
        listing = self._listing()
        wanted = [normalised(path) for path in paths]
        with self._lock:
            missing = [path for path in dict.fromkeys(wanted) if path not in self._texts]
            self._texts.update(self._read(listing, missing))
            return {path: self._texts[path] for path in wanted}

    def _read(self, listing: dict[str, Entry], paths: list[str]) -> dict[str, str | UnreadableFile]:
        read: dict[str, str | UnreadableFile] = {}
        blobs: dict[str, list[str]] = {}
        for path in paths:
            entry = listing.get(path)
            if entry is None or entry.kind == "directory":
                read[path] = UnreadableFile(f"{path} is not a file on commit {self._commit[:12]}")
            elif entry.kind != "file":
                read[path] = UnreadableFile(f"{path} is a {entry.kind}; refused (not followed)")
            elif entry.size > MAX_FILE_BYTES:
                read[path] = UnreadableFile(
                    f"{path} is {entry.size} bytes, over the {MAX_FILE_BYTES // 1024} KiB limit"
                )
            else:
                blobs.setdefault(entry.oid, []).append(path)
        if not blobs:
            return read
        try:
            batch = run_git(
                self.root.resolve(), "cat-file", "--batch", stdin="\n".join(blobs).encode() + b"\n"
            )
        except GitError as exc:
            raise RepositoryError(f"platform repository {self.root}: {exc}") from None
        position = 0
        while position < len(batch):
            end = batch.index(b"\n", position)
            oid, _, size = batch[position:end].decode().split(" ")
            start = end + 1
            data = batch[start : start + int(size)]
            position = start + int(size) + 1
            for path in blobs[oid]:
                try:
                    read[path] = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    read[path] = UnreadableFile(f"{path} is not UTF-8 (byte {exc.start})")
        return read


def text_of(repository: PlatformRepository, path: str) -> str:
    """One file's text; UnreadableFile when it cannot be read."""
    text = repository.texts([path])[path]
    if isinstance(text, UnreadableFile):
        raise text
    return text
