"""Publishing a report set: a reader sees the old set or the new one, never a mix.

A *report set* is the files one run writes into its output directory plus ``SHA256SUMS``
over them; the set is exactly what ``SHA256SUMS`` lists. :func:`publish_set` makes a set
visible as a whole, on Linux by exchanging directories:

1. Every file is written and fsynced into ``.<name>.<random>.policycheck/set``, a staging
   directory beside the output directory ``<name>`` (``tempfile.mkdtemp``: an
   unpredictable name, mode 0700, so nobody can plant a symlink in it; the files are
   created with ``O_EXCL | O_NOFOLLOW``).
2. Under an exclusive ``flock`` on the parent directory (no lock file is left), each
   entry of the current output directory that is not part of a report set — the
   committed ``README.md``, notes, symlinks — is hard-linked into the staging directory.
   Files of the old set are not: an old ``report.csv`` does not outlive the
   ``SHA256SUMS`` that listed it. The staging directory takes the output directory's mode
   and owner.
3. ``renameat2(RENAME_EXCHANGE)`` swaps the two directories in one step (a plain rename
   when there was no output directory yet). Whoever opens the output directory, or
   ``cd``\\s into it, gets one whole set; a reader that opens files by path one after the
   other can still straddle a swap, and a reader still inside the old directory finds
   its files gone once step 4 removes them.
4. Subdirectories of the old output directory (``reports/dev`` from another run), and
   anything that could not be hard-linked, are renamed back into the new one — they are
   missing for the microseconds between the exchange and that rename. The old set is
   removed with the staging directory.

Signals that would raise in the main thread (Ctrl-C, a SIGTERM handler) are held from the
exchange to the end of step 4 and delivered afterwards. Anything raised before the
exchange removes the staging directory, leaving the old set as it was. A kill -9 leaves
the staging directory behind; the next publish into the same directory sees that no live
process holds its lock, puts back anything of the user's in it and removes it.

Two runs publishing into one directory stage separately and take turns for steps 2 to 4:
the last one wins. The swap changes the output directory's inode, so a shell ``cd``'d into
it, or a bind mount of it, keeps seeing the old, removed directory.

Where no exchange is possible — not Linux or glibc < 2.28, a filesystem without
RENAME_EXCHANGE, an output directory that is a mount point, whose parent is not writable,
or that holds the current or the home directory — the files are replaced in place, under
the same lock: ``SHA256SUMS`` is removed first, each file is written under an
unpredictable name and renamed over its own, ``SHA256SUMS`` is written last. A reader may
then see old and new files side by side, and an interrupted run leaves a mix, but without
``SHA256SUMS``, so ``sha256sum -c`` reports the set as incomplete instead of vouching for
it.
"""

import ctypes
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from policycheck.errors import InputError

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None  # type: ignore[assignment]

CHECKSUMS = "SHA256SUMS"
#: A file's content: bytes, or a file to copy (in chunks of CHUNK bytes).
Content = bytes | Path
CHUNK = 2**20
STAGING_SUFFIX = ".policycheck"
# Where locks do not work (NFS cannot flock a directory), a staging directory this old
# (seconds) is taken to be left over by a killed run.
STALE_AFTER = 600.0

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# The exchange cannot be done here: fall back to replacing files in place.
_NO_EXCHANGE = frozenset(
    {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EBUSY}
    | {errno.EPERM, errno.EACCES}
)
_SET = "set"
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# A temporary file of a report file: ours (.NAME.<hex>.policycheck) or the previous
# writer's (.NAME.tmp).
_TEMPORARY = re.compile(
    r"\.(?P<name>.+?)(?:\.[0-9a-f]{12}" + re.escape(STAGING_SUFFIX) + r"|\.tmp)"
)

log = logging.getLogger("policycheck.publish.staging")

# Tests: called with the name of each step as it is reached ("staged", "exchanged", ...),
# to interrupt or kill a publication at a chosen point.
_step_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _step_hook is not None:
        _step_hook(name)


#: The output directories this process has published a new report set into, each noted in
#: the step that makes the set visible, with signals held: what a command a signal ends
#: says it did.
published: list[Path] = []


def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    function.argtypes += [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


def _rename2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> None:
    if _renameat2 is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), dst)
    if _renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), dst)


# ---------------------------------------------------------------------------------------
# Checking the output directory


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


# ---------------------------------------------------------------------------------------
# Publishing


def publish_set(
    output_dir: Path, files: Mapping[str, str | bytes | Path], *, managed: Iterable[str] = ()
) -> list[Path]:
    """Publish ``files`` (name: content; a ``str`` is written as UTF-8, a ``Path`` is a
    file whose content is copied, a large report rendered to disk) and SHA256SUMS over
    them into ``output_dir`` as one set, replacing the set there; the paths written, in
    order, SHA256SUMS last.

    ``managed`` names the files a report set can have besides ``files``: such a file left
    by an older set is removed. Every other entry of the output directory is kept.
    ``output_dir`` and missing parents are created; a symlink to a directory is followed
    (the directory it points to is replaced; the symlink stays). Raises InputError for an
    output directory that cannot be used (see :func:`check_output_dir`), ValueError for a
    file name that is not a plain name, OSError when writing fails; in every case the old
    set is left as it was and no temporary file remains."""
    contents = _contents(files)
    check_output_dir(output_dir)
    target = Path(os.path.realpath(output_dir))
    set_names = frozenset(managed) | contents.keys()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _publish_by_exchange(target, contents, set_names):
        _publish_in_place(target, contents, set_names)
    return [output_dir / name for name in contents]


def _contents(files: Mapping[str, str | bytes | Path]) -> dict[str, Content]:
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


def _write(file: Any, data: Content) -> None:
    if isinstance(data, bytes):
        file.write(data)
        return
    with open(data, "rb") as source:
        shutil.copyfileobj(source, file, CHUNK)


def _exchange_possible(target: Path) -> bool:
    if _renameat2 is None:
        return False
    for anchor in _anchors():
        if anchor == target or target in anchor.parents:
            return False  # swapping it would leave this process (and a shell) in a husk
    try:
        own = os.stat(target)
    except FileNotFoundError:
        return True
    return own.st_dev == os.stat(target.parent).st_dev and not os.path.ismount(target)


def _anchors() -> Iterator[Path]:
    with suppress(OSError):
        yield Path(os.path.realpath(os.getcwd()))
    with suppress(OSError, RuntimeError, KeyError):
        yield Path(os.path.realpath(Path.home()))


def _publish_by_exchange(
    target: Path, contents: dict[str, Content], set_names: frozenset[str]
) -> bool:
    """Publish by exchanging directories; False, with nothing changed and nothing left
    behind, where that cannot be done."""
    if not _exchange_possible(target):
        return False
    try:
        parent_fd = os.open(target.parent, _O_DIR)
    except PermissionError:
        return False
    swap = _Swap(target, parent_fd, contents, set_names)
    try:
        if not swap.create():
            return False
        swap.stage()
        for attempt in range(3):
            with _Lock(swap.parent_fd) as lock:
                if attempt == 2 or _is_at(swap.parent_fd, target.parent):
                    _step("locked")
                    _sweep_stale(swap.parent_fd, target.name, set_names, lock.held, swap.wrapper)
                    try:
                        if swap.commit():
                            return True
                    finally:
                        swap.cleanup()
                    log.info("%s: cannot exchange directories; replacing files in place", target)
                    _replace_in_place(target, contents, set_names, lock.held)
                    return True
            # The parent was swapped meanwhile (a run publishing into it): follow it.
            os.close(swap.parent_fd)
            swap.parent_fd = os.open(target.parent, _O_DIR)
        raise AssertionError("unreachable")
    finally:
        swap.cleanup()
        swap.close()


def _is_at(fd: int, path: Path) -> bool:
    """Whether ``path`` is still the directory open as ``fd``."""
    here, there = os.fstat(fd), os.stat(path)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class _Swap:
    """One publication by exchange: its staging directory and the file descriptors."""

    def __init__(
        self, target: Path, parent_fd: int, contents: dict[str, Content], set_names: frozenset[str]
    ) -> None:
        self.target = target
        self.parent_fd = parent_fd
        self.contents = contents
        self.set_names = set_names
        self.wrapper: str | None = None  # .<name>.<random>.policycheck, in the parent
        self.wrapper_fd = self.set_fd = self.old_fd = -1
        self.committed = False
        self.linked: dict[str, tuple[int, int]] = {}

    def create(self) -> bool:
        """Make the staging directory; False where the parent is not writable."""
        # Under the lock, so that no sweep sees it before it is locked itself.
        with _Lock(self.parent_fd), _deferred_signals():
            try:
                path = tempfile.mkdtemp(
                    prefix=f".{self.target.name}.", suffix=STAGING_SUFFIX, dir=self.target.parent
                )
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    return False
                raise
            self.wrapper = os.path.basename(path)
            self.wrapper_fd = os.open(self.wrapper, _O_DIR | _O_NOFOLLOW, dir_fd=self.parent_fd)
            _try_lock(self.wrapper_fd)  # held while this process lives: not stale
        _step("staging created")
        return True

    def stage(self) -> None:
        os.mkdir(_SET, 0o777, dir_fd=self.wrapper_fd)  # the umask applies, as to any mkdir
        self.set_fd = os.open(_SET, _O_DIR | _O_NOFOLLOW, dir_fd=self.wrapper_fd)
        for name, data in self.contents.items():
            fd = os.open(name, _O_NEW, 0o666, dir_fd=self.set_fd)
            with os.fdopen(fd, "wb") as file:
                _write(file, data)
                file.flush()
                os.fsync(file.fileno())
            _step(f"wrote {name}")
        os.fsync(self.set_fd)
        _step("staged")

    def commit(self) -> bool:
        """Put the staged set in place of the output directory (the parent's lock held);
        False where the filesystem cannot exchange directories."""
        assert self.wrapper is not None
        name = self.target.name
        for _ in range(3):
            try:
                old = os.stat(name, dir_fd=self.parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                if self._rename_into_place(name):
                    return True
                continue  # made meanwhile by someone else: exchange with it
            if not stat.S_ISDIR(old.st_mode):
                raise InputError(f"output directory {self.target}: is no longer a directory")
            if self.old_fd < 0:
                self.old_fd = os.open(name, _O_DIR | _O_NOFOLLOW, dir_fd=self.parent_fd)
                self._carry_over(old)
            with _deferred_signals():  # until the user's entries are back
                try:
                    _rename2(self.wrapper_fd, _SET, self.parent_fd, name, RENAME_EXCHANGE)
                except OSError as exc:
                    if exc.errno in _NO_EXCHANGE:
                        return False
                    raise
                self._committed()
                self.cleanup()
            return True
        raise OSError(errno.EEXIST, "the output directory keeps changing", str(self.target))

    def _rename_into_place(self, name: str) -> bool:
        """There is no output directory: rename the staged one to it; False if one has
        appeared meanwhile."""
        with _deferred_signals():
            try:
                _rename2(self.wrapper_fd, _SET, self.parent_fd, name, RENAME_NOREPLACE)
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    return False
                if exc.errno not in (errno.EINVAL, errno.ENOSYS):
                    raise
                os.rename(_SET, name, src_dir_fd=self.wrapper_fd, dst_dir_fd=self.parent_fd)
            self._committed()
            self.cleanup()
        return True

    def _committed(self) -> None:
        self.committed = True
        published.append(self.target)
        os.fsync(self.parent_fd)
        _step("exchanged")

    def _carry_over(self, old: os.stat_result) -> None:
        """Hard-link what is not a report file into the staging directory; give it the
        output directory's owner and mode."""
        for name in _names(self.old_fd):
            entry = os.stat(name, dir_fd=self.old_fd, follow_symlinks=False)
            if stat.S_ISDIR(entry.st_mode):
                if name in self.set_names:
                    raise InputError(f"{self.target / name}: is a directory, not a report file")
                continue  # renamed back after the exchange
            if _is_set_file(name, self.set_names):
                continue
            try:
                os.link(
                    name,
                    name,
                    src_dir_fd=self.old_fd,
                    dst_dir_fd=self.set_fd,
                    follow_symlinks=False,  # a symlink is linked, not what it points to
                )
            except OSError:  # protected_hardlinks, too many links, ...: renamed back too
                continue
            self.linked[name] = (entry.st_dev, entry.st_ino)
        _match_owner_and_mode(self.set_fd, old)
        os.fsync(self.set_fd)
        _step("linked")

    def _finish(self) -> None:
        """After the exchange: put the user's entries back, remove the old set."""
        if self.old_fd >= 0:
            left = _drain(self.old_fd, self.set_fd, self.set_names, self.linked)
            os.fsync(self.set_fd)
            _step("drained")
            if left:
                log.warning(
                    "%s: kept %s in %s: the output directory has entries of the same names",
                    self.target,
                    ", ".join(left),
                    self.target.parent / str(self.wrapper) / _SET,
                )
                self.wrapper = None  # keep it
                return
            os.rmdir(_SET, dir_fd=self.wrapper_fd)
        os.rmdir(str(self.wrapper), dir_fd=self.parent_fd)
        self.wrapper = None

    def cleanup(self) -> None:
        """Remove the staging directory: after the exchange, by putting the user's entries
        back and removing the old set (_finish); before it, with what it holds, only
        files we wrote and hard links. Idempotent; logs rather than raises an OSError,
        which cannot undo a publication."""
        if self.wrapper is None:
            return
        with _deferred_signals():
            try:
                if self.committed:
                    self._finish()
                else:
                    shutil.rmtree(self.wrapper, dir_fd=self.parent_fd)
                    self.wrapper = None
            except OSError as exc:
                log.warning("%s: cannot remove staging directory: %s", self.target, exc)
                self.wrapper = None

    def close(self) -> None:
        for fd in (self.old_fd, self.set_fd, self.wrapper_fd, self.parent_fd):
            if fd >= 0:
                os.close(fd)
        self.wrapper_fd = self.set_fd = self.old_fd = self.parent_fd = -1


def _match_owner_and_mode(fd: int, old: os.stat_result) -> None:
    own = os.fstat(fd)
    if (own.st_uid, own.st_gid) != (old.st_uid, old.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            with suppress(PermissionError):
                os.fchown(fd, -1, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _names(dir_fd: int) -> list[str]:
    with os.scandir(dir_fd) as entries:
        return [entry.name for entry in entries]


def _is_set_file(name: str, set_names: frozenset[str]) -> bool:
    """A file of a report set, or a temporary file of one."""
    if name in set_names:
        return True
    temporary = _TEMPORARY.fullmatch(name)
    return bool(temporary and temporary["name"] in set_names)


def _drain(
    source_fd: int,
    live_fd: int | None,
    set_names: frozenset[str],
    linked: dict[str, tuple[int, int]] | None,
) -> list[str]:
    """Empty a swapped-out (or stale staging) directory: remove the files of a report
    set, and entries that the output directory (``live_fd``) holds too; move the rest
    into the output directory. The names that could not be moved, because the output
    directory has a different entry of that name (one that is a directory, or any, when
    ``linked``, the entries hard-linked before the exchange, does not name it).

    ``linked`` is None for a staging directory left by a killed run: then, of two files
    of one name, the output directory's is the newer one."""
    left = []
    for name in _names(source_fd):
        entry = os.stat(name, dir_fd=source_fd, follow_symlinks=False)
        if not stat.S_ISDIR(entry.st_mode) and _is_set_file(name, set_names):
            os.unlink(name, dir_fd=source_fd)
            continue
        if live_fd is None:
            left.append(name)
            continue
        try:
            live = os.stat(name, dir_fd=live_fd, follow_symlinks=False)
        except FileNotFoundError:
            if not _move(source_fd, name, live_fd):
                left.append(name)
            continue
        if (live.st_dev, live.st_ino) == (entry.st_dev, entry.st_ino):
            os.unlink(name, dir_fd=source_fd)  # the hard link we made
        elif stat.S_ISDIR(entry.st_mode) or stat.S_ISDIR(live.st_mode):
            left.append(name)
        elif linked is None:
            os.unlink(name, dir_fd=source_fd)
        elif name in linked:  # replaced by someone else between the link and the exchange
            os.replace(name, name, src_dir_fd=source_fd, dst_dir_fd=live_fd)
        else:
            left.append(name)
    return left


def _move(source_fd: int, name: str, live_fd: int) -> bool:
    """Rename ``name`` into the output directory unless it has an entry of that name."""
    try:
        _rename2(source_fd, name, live_fd, name, RENAME_NOREPLACE)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        if exc.errno not in (errno.EINVAL, errno.ENOSYS):
            raise
        os.rename(name, name, src_dir_fd=source_fd, dst_dir_fd=live_fd)
    return True


def _sweep_stale(
    parent_fd: int, name: str, set_names: frozenset[str], locked: bool, own: str | None
) -> None:
    """Remove the staging directories of runs that were killed (kill -9, power loss),
    putting back what they hold of the user's; those of live runs hold a lock."""
    pattern = re.compile(re.escape(f".{name}.") + r"[A-Za-z0-9_]+" + re.escape(STAGING_SUFFIX))
    try:
        names = _names(parent_fd)
    except OSError as exc:
        log.warning("cannot look for stale staging directories: %s", exc)
        return
    for wrapper in names:
        if wrapper == own or not pattern.fullmatch(wrapper):
            continue
        try:
            _sweep_one(parent_fd, wrapper, name, set_names, locked)
        except OSError as exc:
            log.warning("%s: cannot remove a stale staging directory: %s", wrapper, exc)


def _sweep_one(
    parent_fd: int, wrapper: str, name: str, set_names: frozenset[str], locked: bool
) -> None:
    found = os.stat(wrapper, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
        return
    fd = os.open(wrapper, _O_DIR | _O_NOFOLLOW, dir_fd=parent_fd)
    try:
        free = _try_lock(fd)
        if free is False or (
            (free is None or not locked) and time.time() - found.st_mtime < STALE_AFTER
        ):
            return  # a live run's
        inside = _names(fd)
        if any(entry != _SET for entry in inside):
            return  # not ours after all
        if inside:
            set_fd = os.open(_SET, _O_DIR | _O_NOFOLLOW, dir_fd=fd)
            try:
                live_fd = os.open(name, _O_DIR | _O_NOFOLLOW, dir_fd=parent_fd)
            except OSError:
                live_fd = None
            try:
                left = _drain(set_fd, live_fd, set_names, None)
                if live_fd is not None:
                    os.fsync(live_fd)
            finally:
                os.close(set_fd)
                if live_fd is not None:
                    os.close(live_fd)
            if left:
                log.warning("%s: kept, it holds %s", wrapper, ", ".join(left))
                return
            os.rmdir(_SET, dir_fd=fd)
        os.rmdir(wrapper, dir_fd=parent_fd)
        log.info("removed stale staging directory %s", wrapper)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------
# The fallback: file by file


def _publish_in_place(
    target: Path, contents: dict[str, Content], set_names: frozenset[str]
) -> None:
    target.mkdir(exist_ok=True)
    try:
        lock_fd = os.open(target.parent, _O_DIR)
    except OSError:
        lock_fd = os.open(target, _O_DIR)
    try:
        with _Lock(lock_fd) as lock:
            _step("locked")
            _replace_in_place(target, contents, set_names, lock.held)
    finally:
        os.close(lock_fd)


def _replace_in_place(
    target: Path, contents: dict[str, Content], set_names: frozenset[str], locked: bool
) -> None:
    """Remove SHA256SUMS, replace each file, write SHA256SUMS last (the lock held)."""
    target.mkdir(exist_ok=True)
    out_fd = os.open(target, _O_DIR)
    try:
        for name in _names(out_fd):
            entry = os.stat(name, dir_fd=out_fd, follow_symlinks=False)
            if stat.S_ISDIR(entry.st_mode):
                if name in set_names:
                    raise InputError(f"{target / name}: is a directory, not a report file")
            elif (
                name not in set_names
                and _is_set_file(name, set_names)
                and (locked or time.time() - entry.st_mtime >= STALE_AFTER)
            ):
                # A temporary file of a killed run (live ones wait for the lock we hold).
                os.unlink(name, dir_fd=out_fd)
        with suppress(FileNotFoundError):
            os.unlink(CHECKSUMS, dir_fd=out_fd)
        os.fsync(out_fd)
        _step("in place: SHA256SUMS removed")
        for name in sorted(set_names - contents.keys()):
            with suppress(FileNotFoundError):
                os.unlink(name, dir_fd=out_fd)
        for name, data in contents.items():
            _replace_file(out_fd, name, data, target if name == CHECKSUMS else None)
            _step(f"in place: replaced {name}")
        os.fsync(out_fd)
    finally:
        os.close(out_fd)


def _random_token() -> str:
    return secrets.token_hex(6)


def _replace_file(dir_fd: int, name: str, data: Content, completes: Path | None = None) -> None:
    """Replace one file by way of a temporary one; ``completes``: the output directory
    whose set this file completes (SHA256SUMS), noted in ``published`` as it lands."""
    for _ in range(100):
        temporary = f".{name}.{_random_token()}{STAGING_SUFFIX}"
        try:
            fd = os.open(temporary, _O_NEW, 0o666, dir_fd=dir_fd)
        except FileExistsError:
            continue
        break
    else:
        raise OSError(errno.EEXIST, "no unused temporary name", name)
    try:
        with os.fdopen(fd, "wb") as file:
            _write(file, data)
            file.flush()
            os.fsync(file.fileno())
        _step(f"in place: wrote a temporary {name}")
        with _deferred_signals():
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            if completes is not None:
                published.append(completes)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise


# ---------------------------------------------------------------------------------------
# Locks and signals


class _Lock:
    """An exclusive flock on a directory, held for the block; ``held`` is False where the
    filesystem cannot lock (the block then runs unlocked)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.held = False

    def __enter__(self) -> "_Lock":
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
                self.held = True
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EBADF, errno.EINVAL):
                    raise
                log.info("cannot lock the output directory's parent: %s", exc)
        return self

    def __exit__(
        self, kind: type | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.held:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            self.held = False


def _try_lock(fd: int) -> bool | None:
    """Lock without waiting: True if locked now, False if another holds it, None if
    locks do not work here."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


_deferring = False
# Signals whose default action ends the process: held back too.
_ENDING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def _deferred_signals() -> Iterator[None]:
    """Hold back, for the block, the signals that would raise an exception or end the
    process, and deliver them after it. Only the main thread runs signal handlers, so
    elsewhere there is nothing to hold."""
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[tuple[int, FrameType | None]] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append((signum, frame))

    saved: dict[int, Any] = {}
    try:
        for signum in signal.valid_signals():
            try:
                handler = signal.getsignal(signum)
                if callable(handler) or (handler == signal.SIG_DFL and signum in _ENDING):
                    saved[signum] = signal.signal(signum, hold)
            except (OSError, ValueError):
                continue
        _deferring = True
        yield
    finally:
        _deferring = False
        for held, handler in saved.items():
            signal.signal(held, handler)
        for number, frame in pending:
            handler = saved[number]
            if callable(handler):
                handler(number, frame)
            else:
                os.kill(os.getpid(), number)
