"""Spread fact collection over processes: one Python process makes about a thousand
botocore calls a second (each costs about a millisecond of CPU under the GIL), so a large
run uses every core. Work is split by subject, never a subject's facts across processes,
and facts that share lookups (``uses_memo``) stay in one process: still one call per fact.
Linux only (fork: the children inherit the policy, sessions and plan without pickling)."""

import ctypes
import gc
import math
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any

from policycheck.deadline import NO_DEADLINE, Deadline
from policycheck.facts import AwsError, FactOutcome
from policycheck.fetching import (
    ClientsFor,
    FactKey,
    FactRequest,
    ProgressCallback,
    ServiceCaps,
    collect,
    too_late,
    with_dependencies,
)
from policycheck.locations import shard_of

#: One more process for every this many facts, up to the number of cores.
FACTS_PER_PROCESS = 1500
#: How often the parent reports the children's progress.
PROGRESS_SECONDS = 0.25
#: How long after the deadline the parent waits for a child's answer before stopping it.
DEADLINE_GRACE_SECONDS = 5.0
#: prctl(2) option: the signal a process receives when its parent ends.
PR_SET_PDEATHSIG = 1

#: What the forked children read: set by collect_spread just before forking.
_WORK: dict[str, Any] = {}

Packed = dict[FactKey, tuple[Any, bool, AwsError | None, str]]


def default_processes(facts: int) -> int:
    """Processes worth starting for ``facts`` fetches: 1 below FACTS_PER_PROCESS, one per
    core at most, and 1 where fork is unavailable."""
    if sys.platform != "linux":
        return 1
    return max(1, min(os.cpu_count() or 1, facts // FACTS_PER_PROCESS))


def partition(requests: dict[FactKey, FactRequest], count: int) -> list[dict[FactKey, FactRequest]]:
    """Split by (account, region, subject), stably; every subject with a memo-sharing fact
    goes to the first part, so that shared lookups are made once."""
    sharing = {
        (key.account_id, key.region, key.subject)
        for key, request in requests.items()
        if request.spec.uses_memo
    }
    parts: list[dict[FactKey, FactRequest]] = [{} for _ in range(count)]
    for key, request in requests.items():
        group = (key.account_id, key.region, key.subject)
        index = 0 if group in sharing else shard_of("\0".join(group), count) - 1
        parts[index][key] = request
    return [part for part in parts if part]


def collect_spread(
    requests: dict[FactKey, FactRequest],
    clients_for: ClientsFor,
    *,
    processes: int,
    max_workers: int,
    service_caps: ServiceCaps | None = None,
    progress: ProgressCallback | None = None,
    forget_clients: Callable[[], None] = lambda: None,
    deadline: Deadline = NO_DEADLINE,
) -> dict[FactKey, FactOutcome]:
    """``collect`` over up to ``processes`` forked processes, sharing ``max_workers`` and
    each service cap between them. ``forget_clients`` runs first in each child, so that
    no HTTP connection is shared with the parent. Each child stops at the deadline; one
    that has not answered DEADLINE_GRACE_SECONDS later is stopped, its facts errors."""
    everything = with_dependencies(requests)
    parts = partition(everything, processes) if processes > 1 else [everything]
    if len(parts) < 2:
        return collect(
            everything,
            clients_for,
            max_workers=max_workers,
            service_caps=service_caps,
            progress=progress,
            deadline=deadline,
        )
    context = multiprocessing.get_context("fork")
    finished = context.Array("i", len(parts))
    _WORK.update(
        parts=parts,
        clients_for=clients_for,
        max_workers=math.ceil(max_workers / len(parts)),
        service_caps=_shares(service_caps or {}, len(parts)),
        finished=finished,
        forget_clients=forget_clients,
        deadline=deadline,
        parent=os.getpid(),
    )
    # Keep the collector from writing to every inherited object, so the children share
    # the parent's pages instead of copying them (memory stays near one process's).
    gc.collect()
    gc.freeze()
    pool = ProcessPoolExecutor(len(parts), mp_context=context, initializer=_start_child)
    try:
        packed, overdue = _gather(pool, parts, finished, len(everything), progress, deadline)
    except BaseException:  # interrupted or a child failed: stop the others now
        _stop_children(pool)
        raise
    finally:
        _WORK.clear()
        gc.unfreeze()
    if overdue:
        _stop_children(pool)
    else:
        pool.shutdown()
    return {
        key: FactOutcome(everything[key].spec, value, missing, error, fetched_at)
        for part in packed
        for key, (value, missing, error, fetched_at) in part.items()
    }


def _shares(service_caps: ServiceCaps, parts: int) -> ServiceCaps:
    """Each process's part of every service cap (at least one call in flight)."""
    return {name: max(1, cap // parts) for name, cap in service_caps.items()}


def _gather(
    pool: ProcessPoolExecutor,
    parts: list[dict[FactKey, FactRequest]],
    finished: Any,
    total: int,
    progress: ProgressCallback | None,
    deadline: Deadline,
) -> tuple[list[Packed], bool]:
    """Each part's answers, and whether some child was overdue (its facts: deadline
    errors); progress reported while waiting; stops at the first child that failed."""
    futures = [pool.submit(_collect_part, index) for index in range(len(parts))]
    pending: set[Future[Packed]] = set(futures)
    overdue = False
    while pending:
        _, pending = wait(pending, timeout=PROGRESS_SECONDS, return_when=FIRST_EXCEPTION)
        if progress:
            progress(sum(finished[:]), total)
        if any(f.done() and f.exception() for f in futures):
            break
        if pending and deadline.passed(by=DEADLINE_GRACE_SECONDS):
            overdue = True
            break
    packed = [
        future.result()
        if future.done()
        else {key: _pack(too_late(request.spec, deadline)) for key, request in part.items()}
        for future, part in zip(futures, parts, strict=True)
    ]
    return packed, overdue


def _stop_children(pool: ProcessPoolExecutor) -> None:
    for child in multiprocessing.active_children():
        child.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


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


def _collect_part(index: int) -> Packed:
    """In a child: collect one part; outcomes go back without their (unpicklable) specs."""
    finished = _WORK["finished"]

    def report(done: int, _total: int) -> None:
        finished[index] = done

    outcomes = collect(
        _WORK["parts"][index],
        _WORK["clients_for"],
        max_workers=_WORK["max_workers"],
        service_caps=_WORK["service_caps"],
        progress=report,
        deadline=_WORK["deadline"],
    )
    return {key: _pack(outcome) for key, outcome in outcomes.items()}


def _pack(outcome: FactOutcome) -> tuple[Any, bool, AwsError | None, str]:
    """An outcome without its (unpicklable) spec."""
    return outcome.value, outcome.resource_missing, outcome.error, outcome.fetched_at
