"""A report set staged for publishing, and what every way of publishing it shares.

Where a set may go (:func:`check_output_dir`); its files, each rendered into a scratch
directory (:func:`staged`), checked by name, and SHA256SUMS over them
(:func:`set_contents`); the names a publication leaves beside them (staging directories,
temporary files) and how it lists and writes files; and what it notes as it goes: each
step (for tests) and the output directories it has published into."""

import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from policycheck.errors import InputError
from policycheck.report.spool import Scratch

if TYPE_CHECKING:
    from policycheck.render.document import Writing

CHECKSUMS = "SHA256SUMS"
#: A file's content: bytes, or a file to copy (in chunks of CHUNK bytes).
Content = bytes | Path
CHUNK = 2**20
STAGING_SUFFIX = ".policycheck"
# Where locks do not work (NFS cannot flock a directory), a staging directory this old
# (seconds) is taken to be left over by a killed run.
STALE_AFTER = 600.0

O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# A temporary file of a report file: ours (.NAME.<hex>.policycheck) or the previous
# writer's (.NAME.tmp).
_TEMPORARY = re.compile(
    r"\.(?P<name>.+?)(?:\.[0-9a-f]{12}" + re.escape(STAGING_SUFFIX) + r"|\.tmp)"
)


# Tests: called with the name of each step as it is reached ("staged", "exchanged", ...),
# to interrupt or kill a publication at a chosen point.
_step_hook: Callable[[str], None] | None = None


def step(name: str) -> None:
    """A publication reached the step ``name``: the test hook, if any, is told."""
    if _step_hook is not None:
        _step_hook(name)


#: The output directories this process has published a new report set into, each noted in
#: the step that makes the set visible, with signals held: what a command a signal ends
#: says it did.
published: list[Path] = []


def note_published(directory: Path) -> None:
    """A new set is visible in ``directory`` (noted with signals held)."""
    published.append(directory)


def check_output_dir(path: Path) -> None:
    """Raise InputError, one line naming ``path``, unless reports can be published there:
    an existing, writable directory, or one that can be created (its nearest existing
    ancestor is a writable directory). Creates and writes nothing. The root directory is
    refused."""
    resolved = Path(os.path.realpath(path))
    where = f"output directory {path}"
    if resolved.parent == resolved:
        raise InputError(f"{where}: is the root directory; choose a directory for reports")
    existing = _stat_or_none(resolved, where)
    if existing is not None:
        if not stat.S_ISDIR(existing.st_mode):
            raise InputError(f"{where}: exists and is not a directory")
        reason = _unwritable(resolved)
        if reason:
            raise InputError(f"{where}: not writable ({reason})")
        return
    ancestor = resolved.parent
    while (found := _stat_or_none(ancestor, where)) is None:
        ancestor = ancestor.parent
    if not stat.S_ISDIR(found.st_mode):
        raise InputError(f"{where}: cannot be created: {os.strerror(errno.ENOTDIR)} ({ancestor})")
    reason = _unwritable(ancestor)
    if reason:
        raise InputError(f"{where}: cannot be created: {reason} ({ancestor})")


def _stat_or_none(path: Path, where: str) -> os.stat_result | None:
    """Its stat; None when it or a parent is missing or a parent is a file."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InputError(f"{where}: cannot be used: {exc.strerror or exc} ({path})") from None


def _unwritable(directory: Path) -> str | None:
    """Why entries cannot be made in ``directory``, or None."""
    effective = os.access in os.supports_effective_ids
    if os.access(directory, os.W_OK | os.X_OK, effective_ids=effective):
        return None
    with suppress(OSError, AttributeError):
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return os.strerror(errno.EROFS)
    return os.strerror(errno.EACCES)


def set_contents(files: Mapping[str, str | bytes | Path]) -> dict[str, Content]:
    contents: dict[str, Content] = {}
    for name, data in files.items():
        if (
            name in ("", ".", "..", CHECKSUMS)
            or any(c in name for c in "/\\\n\r\0")
            or _TEMPORARY.fullmatch(name)
        ):
            raise ValueError(f"{name!r}: not a report file name")
        contents[name] = data.encode("utf-8") if isinstance(data, str) else data
    sums = "".join(f"{_sha256(d)}  {n}\n" for n, d in contents.items())
    contents[CHECKSUMS] = sums.encode("ascii")
    return contents


def _sha256(data: Content) -> str:
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    with open(data, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_content(file: Any, data: Content) -> None:
    if isinstance(data, bytes):
        file.write(data)
        return
    with open(data, "rb") as source:
        shutil.copyfileobj(source, file, CHUNK)


def names_in(dir_fd: int) -> list[str]:
    with os.scandir(dir_fd) as entries:
        return [entry.name for entry in entries]


def is_set_file(name: str, set_names: frozenset[str]) -> bool:
    """A file of a report set, or a temporary file of one."""
    if name in set_names:
        return True
    temporary = _TEMPORARY.fullmatch(name)
    return bool(temporary and temporary["name"] in set_names)


@contextmanager
def staged(documents: "Mapping[str, Writing]") -> Iterator[dict[str, Path]]:
    """Each document written into a file of its name in a scratch directory, and what a
    view holds aside while it writes (report.html's sections) in files there too: the
    files, for the block (removed after it)."""
    scratch = Scratch()

    def spool() -> IO[str]:
        return tempfile.TemporaryFile("w+", encoding="utf-8", dir=scratch.path)

    try:
        files: dict[str, Path] = {}
        for filename, writing in documents.items():
            files[filename] = scratch.path / filename
            with open(files[filename], "w", encoding="utf-8") as out:
                writing(out, spool)
        yield files
    finally:
        scratch.cleanup()
