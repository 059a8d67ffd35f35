"""Publishing by exchanging directories (steps 1 to 4 of policycheck.publish.reportset):
the set staged beside the output directory, the user's entries carried over, the two
directories swapped with renameat2(RENAME_EXCHANGE) (through ctypes: glibc >= 2.28), what
could not be linked put back; and the staging directories of killed runs swept up."""

import ctypes
import errno
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

from policycheck.errors import InputError
from policycheck.publish.fallback import replace_in_place
from policycheck.publish.lock import Lock, deferred_signals, try_lock
from policycheck.publish.staging import (
    O_DIR,
    O_NEW,
    O_NOFOLLOW,
    STAGING_SUFFIX,
    STALE_AFTER,
    Content,
    is_set_file,
    names_in,
    note_published,
    step,
    write_content,
)

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# The exchange cannot be done here: fall back to replacing files in place.
_NO_EXCHANGE = frozenset(
    {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EBUSY}
    | {errno.EPERM, errno.EACCES}
)
_SET = "set"

log = logging.getLogger("policycheck.publish.exchange")


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


def publish_by_exchange(
    target: Path, contents: dict[str, Content], set_names: frozenset[str]
) -> bool:
    """Publish by exchanging directories; False, with nothing changed and nothing left
    behind, where that cannot be done."""
    if not _exchange_possible(target):
        return False
    try:
        parent_fd = os.open(target.parent, O_DIR)
    except PermissionError:
        return False
    swap = _Swap(target, parent_fd, contents, set_names)
    try:
        if not swap.create():
            return False
        swap.stage()
        for attempt in range(3):
            with Lock(swap.parent_fd) as lock:
                if attempt == 2 or _is_at(swap.parent_fd, target.parent):
                    step("locked")
                    _sweep_stale(swap.parent_fd, target.name, set_names, lock.held, swap.wrapper)
                    try:
                        if swap.commit():
                            return True
                    finally:
                        swap.cleanup()
                    log.info("%s: cannot exchange directories; replacing files in place", target)
                    replace_in_place(target, contents, set_names, lock.held)
                    return True
            # The parent was swapped meanwhile (a run publishing into it): follow it.
            os.close(swap.parent_fd)
            swap.parent_fd = os.open(target.parent, O_DIR)
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
        with Lock(self.parent_fd), deferred_signals():
            try:
                path = tempfile.mkdtemp(
                    prefix=f".{self.target.name}.", suffix=STAGING_SUFFIX, dir=self.target.parent
                )
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                    return False
                raise
            self.wrapper = os.path.basename(path)
            self.wrapper_fd = os.open(self.wrapper, O_DIR | O_NOFOLLOW, dir_fd=self.parent_fd)
            try_lock(self.wrapper_fd)  # held while this process lives: not stale
        step("staging created")
        return True

    def stage(self) -> None:
        os.mkdir(_SET, 0o777, dir_fd=self.wrapper_fd)  # the umask applies, as to any mkdir
        self.set_fd = os.open(_SET, O_DIR | O_NOFOLLOW, dir_fd=self.wrapper_fd)
        for name, data in self.contents.items():
            fd = os.open(name, O_NEW, 0o666, dir_fd=self.set_fd)
            with os.fdopen(fd, "wb") as file:
                write_content(file, data)
                file.flush()
                os.fsync(file.fileno())
            step(f"wrote {name}")
        os.fsync(self.set_fd)
        step("staged")

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
                self.old_fd = os.open(name, O_DIR | O_NOFOLLOW, dir_fd=self.parent_fd)
                self._carry_over(old)
            with deferred_signals():  # until the user's entries are back
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
        with deferred_signals():
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
        note_published(self.target)
        os.fsync(self.parent_fd)
        step("exchanged")

    def _carry_over(self, old: os.stat_result) -> None:
        """Hard-link what is not a report file into the staging directory; give it the
        output directory's owner and mode."""
        for name in names_in(self.old_fd):
            entry = os.stat(name, dir_fd=self.old_fd, follow_symlinks=False)
            if stat.S_ISDIR(entry.st_mode):
                if name in self.set_names:
                    raise InputError(f"{self.target / name}: is a directory, not a report file")
                continue  # renamed back after the exchange
            if is_set_file(name, self.set_names):
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
        step("linked")

    def _finish(self) -> None:
        """After the exchange: put the user's entries back, remove the old set."""
        if self.old_fd >= 0:
            left = _drain(self.old_fd, self.set_fd, self.set_names, self.linked)
            os.fsync(self.set_fd)
            step("drained")
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
        with deferred_signals():
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
    for name in names_in(source_fd):
        entry = os.stat(name, dir_fd=source_fd, follow_symlinks=False)
        if not stat.S_ISDIR(entry.st_mode) and is_set_file(name, set_names):
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
        names = names_in(parent_fd)
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
    fd = os.open(wrapper, O_DIR | O_NOFOLLOW, dir_fd=parent_fd)
    try:
        free = try_lock(fd)
        if free is False or (
            (free is None or not locked) and time.time() - found.st_mtime < STALE_AFTER
        ):
            return  # a live run's
        inside = names_in(fd)
        if any(entry != _SET for entry in inside):
            return  # not ours after all
        if inside:
            set_fd = os.open(_SET, O_DIR | O_NOFOLLOW, dir_fd=fd)
            try:
                live_fd = os.open(name, O_DIR | O_NOFOLLOW, dir_fd=parent_fd)
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
