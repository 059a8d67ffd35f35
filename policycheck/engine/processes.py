"""Spread a run's work over processes: one Python process makes about a thousand
botocore calls a second (each costs about a millisecond of CPU under the GIL), so a large
run uses every core. Each process judges a part of the resources (see
subjects.Subject.part: never a resource's facts across processes, and facts that share
lookups in one), and sends back only what its part amounted to. Linux only (fork: the
children inherit the policy, sessions and plan without pickling)."""

import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from policycheck.deadline import NO_DEADLINE, Deadline
from policycheck.engine.fetching import ProgressCallback

#: One more process for every this many facts, up to the number of cores.
FACTS_PER_PROCESS = 1500
#: How often the parent reports the children's progress.
PROGRESS_SECONDS = 0.25
#: How long after the deadline the parent waits for a child that makes no progress before
#: stopping it.
DEADLINE_GRACE_SECONDS = 5.0
#: prctl(2) option: the signal a process receives when its parent ends.
PR_SET_PDEATHSIG = 1

T = TypeVar("T")

#: What the forked children read: set by spread just before forking.
_WORK: dict[str, Any] = {}


def default_processes(facts: int) -> int:
    """Processes worth starting for ``facts`` fetches: 1 below FACTS_PER_PROCESS, one per
    core at most, and 1 where fork is unavailable."""
    if sys.platform != "linux":
        return 1
    return max(1, min(os.cpu_count() or 1, facts // FACTS_PER_PROCESS))


def spread(
    work: Callable[[int, Callable[[int], None]], T],
    parts: int,
    *,
    overdue: Callable[[int], T],
    total: int,
    progress: ProgressCallback | None = None,
    forget_clients: Callable[[], None] = lambda: None,
    deadline: Deadline = NO_DEADLINE,
) -> list[T]:
    """``work(i, done)`` for each part ``i`` of ``parts`` (``done(n)``: n facts read so
    far), each in a forked process (in this one when ``parts`` is 1); their answers in
    order. ``forget_clients`` runs
    first in each child, so that no HTTP connection is shared with the parent. Each child
    stops reading at the deadline and judges what it has; one that has not answered and
    made no progress for DEADLINE_GRACE_SECONDS after it is stopped and its part is
    ``overdue(i)``, worked out here."""
    if parts < 2:
        return [work(0, lambda done: progress(done, total) if progress else None)]
    context = multiprocessing.get_context("fork")
    finished = context.Array("q", parts)
    _WORK.update(work=work, finished=finished, forget_clients=forget_clients, parent=os.getpid())
    # Keep the collector from writing to every inherited object, so the children share
    # the parent's pages instead of copying them (memory stays near one process's).
    gc.collect()
    gc.freeze()
    pool = ProcessPoolExecutor(parts, mp_context=context, initializer=_start_child)
    try:
        futures = [pool.submit(_work_part, index) for index in range(parts)]
        late = _gather(futures, finished, total, progress, deadline)
    except BaseException:  # interrupted or a child failed: stop the others now
        _stop_children(pool)
        raise
    finally:
        _WORK.clear()
        gc.unfreeze()
    if late:
        _stop_children(pool)
    else:
        pool.shutdown()
    return [
        overdue(index) if index in late else future.result() for index, future in enumerate(futures)
    ]


def _gather(
    futures: list[Future[Any]],
    finished: Any,
    total: int,
    progress: ProgressCallback | None,
    deadline: Deadline,
) -> set[int]:
    """Wait for every child, reporting progress; the children overdue: after the deadline,
    those whose progress has not moved for DEADLINE_GRACE_SECONDS (a child still judging
    what it read is let finish). Raises at once the error of a child that failed."""
    pending: set[Future[Any]] = set(futures)
    seen = list(finished[:])
    moved = [time.monotonic()] * len(futures)
    while pending:
        _, pending = wait(pending, timeout=PROGRESS_SECONDS, return_when=FIRST_EXCEPTION)
        now, counts = time.monotonic(), finished[:]
        moved = [
            now if count != was else at for count, was, at in zip(counts, seen, moved, strict=True)
        ]
        seen = counts
        if progress:
            progress(min(sum(counts), total), total)
        for future in futures:
            if future.done() and future.exception():
                raise future.exception()  # type: ignore[misc]
        stalled = {
            index
            for index, future in enumerate(futures)
            if future in pending and now - moved[index] >= DEADLINE_GRACE_SECONDS
        }
        if pending and deadline.passed(by=DEADLINE_GRACE_SECONDS) and len(stalled) == len(pending):
            return stalled
    return set()


def _stop_children(pool: ProcessPoolExecutor) -> None:
    for child in multiprocessing.active_children():
        child.terminate()
    # Wait for the executor's manager thread to see its children end: left running, it
    # closes its wake-up pipe while the interpreter's exit handler still writes to it
    # ("Bad file descriptor" traceback after the run's own message).
    pool.shutdown(wait=True, cancel_futures=True)


def _start_child() -> None:
    """In a child: Ctrl-C is the parent's to handle, SIGTERM ends it at once (the parent
    sends it), and it dies with its parent, however the parent ends (kill -9 included);
    it makes its own HTTP connections."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    _die_with_parent()
    _WORK["forget_clients"]()


def _die_with_parent() -> None:
    """Linux: ask the kernel to send SIGKILL when the parent process ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != _WORK["parent"]:  # the parent ended before the request took effect
        os._exit(1)


def _work_part(index: int) -> Any:
    """In a child: one part's work, its progress shared with the parent."""
    finished = _WORK["finished"]

    def done(count: int) -> None:
        finished[index] = count

    return _WORK["work"](index, done)
