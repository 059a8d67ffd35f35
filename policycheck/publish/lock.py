"""Taking turns, and holding signals: an exclusive flock on a directory (the output
directory's parent; no lock file is left) while a set is swapped in or its files
replaced; a lock taken without waiting, which marks a staging directory as a live run's;
and the signals that would end the process held back while a publication becomes
visible, delivered after it."""

import errno
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("policycheck.publish.lock")


class Lock:
    """An exclusive flock on a directory, held for the block; ``held`` is False where the
    filesystem cannot lock (the block then runs unlocked)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.held = False

    def __enter__(self) -> "Lock":
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


def try_lock(fd: int) -> bool | None:
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
def deferred_signals() -> Iterator[None]:
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
