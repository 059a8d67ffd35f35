"""The fallback where directories cannot be exchanged (see policycheck.publish.reportset):
the files replaced in place, under the lock. SHA256SUMS is removed first, each file is
written under an unpredictable name and renamed over its own, SHA256SUMS is written last:
a reader may see old and new files side by side, but never a SHA256SUMS vouching for a
mix."""

import errno
import os
import secrets
import stat
import time
from contextlib import suppress
from pathlib import Path

from policycheck.errors import InputError
from policycheck.publish.lock import Lock, deferred_signals
from policycheck.publish.staging import (
    CHECKSUMS,
    O_DIR,
    O_NEW,
    STAGING_SUFFIX,
    STALE_AFTER,
    Content,
    is_set_file,
    names_in,
    note_published,
    step,
    write_content,
)


def publish_in_place(target: Path, contents: dict[str, Content], set_names: frozenset[str]) -> None:
    target.mkdir(exist_ok=True)
    try:
        lock_fd = os.open(target.parent, O_DIR)
    except OSError:
        lock_fd = os.open(target, O_DIR)
    try:
        with Lock(lock_fd) as lock:
            step("locked")
            replace_in_place(target, contents, set_names, lock.held)
    finally:
        os.close(lock_fd)


def replace_in_place(
    target: Path, contents: dict[str, Content], set_names: frozenset[str], locked: bool
) -> None:
    """Remove SHA256SUMS, replace each file, write SHA256SUMS last (the lock held)."""
    target.mkdir(exist_ok=True)
    out_fd = os.open(target, O_DIR)
    try:
        for name in names_in(out_fd):
            entry = os.stat(name, dir_fd=out_fd, follow_symlinks=False)
            if stat.S_ISDIR(entry.st_mode):
                if name in set_names:
                    raise InputError(f"{target / name}: is a directory, not a report file")
            elif (
                name not in set_names
                and is_set_file(name, set_names)
                and (locked or time.time() - entry.st_mtime >= STALE_AFTER)
            ):
                # A temporary file of a killed run (live ones wait for the lock we hold).
                os.unlink(name, dir_fd=out_fd)
        with suppress(FileNotFoundError):
            os.unlink(CHECKSUMS, dir_fd=out_fd)
        os.fsync(out_fd)
        step("in place: SHA256SUMS removed")
        for name in sorted(set_names - contents.keys()):
            with suppress(FileNotFoundError):
                os.unlink(name, dir_fd=out_fd)
        for name, data in contents.items():
            _replace_file(out_fd, name, data, target if name == CHECKSUMS else None)
            step(f"in place: replaced {name}")
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
            fd = os.open(temporary, O_NEW, 0o666, dir_fd=dir_fd)
        except FileExistsError:
            continue
        break
    else:
        raise OSError(errno.EEXIST, "no unused temporary name", name)
    try:
        with os.fdopen(fd, "wb") as file:
            write_content(file, data)
            file.flush()
            os.fsync(file.fileno())
        step(f"in place: wrote a temporary {name}")
        with deferred_signals():
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            if completes is not None:
                note_published(completes)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise
