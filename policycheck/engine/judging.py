"""Judging a run's targets as their facts arrive, in memory that does not grow with the
run: resource by resource (policycheck.engine.subjects), each resource's facts are read, its
targets judged and their results written to disk (policycheck.report.spool) at once, and the
facts forgotten. Facts of whole accounts and of parents (an ECS cluster) are read first,
once. A large run spreads the resources over processes (policycheck.engine.processes), each
judging its part; their sorted results are merged at the end."""

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from policycheck.deadline import Deadline
from policycheck.engine.evaluation import evaluate
from policycheck.engine.fetching import (
    ClientsFor,
    FactKey,
    Fetcher,
    ProgressCallback,
    ServiceCaps,
    collect,
)
from policycheck.engine.planning import Scope, Unassessable
from policycheck.engine.processes import default_processes, spread
from policycheck.engine.subjects import Subject, shared_requests, sharing_checks, subjects
from policycheck.plugin.facts import FactOutcome, FactSpec, Memo
from policycheck.policy.waivers import Waiver, WaiverLedger
from policycheck.report.model import WaiverReport
from policycheck.report.spool import (
    EvidenceValues,
    ResultLog,
    ResultLogWriter,
    ResultSpool,
    Scratch,
    merge_runs,
    stored_line,
    values_in,
)
from policycheck.report.tally import Tally

#: Facts a process keeps in flight for each of its workers: enough to keep them busy.
IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True, kw_only=True)
class Job:
    """What judging a run needs (the children of a spread run inherit it)."""

    scope: Scope
    clients_for: ClientsFor
    started: datetime
    #: The policy's waivers of the selected environments.
    waivers: list[Waiver]
    deadline: Deadline
    max_workers: int
    service_caps: ServiceCaps | None = None
    processes: int | None = None
    progress: ProgressCallback | None = None
    forget_clients: Callable[[], None] = lambda: None
    scratch: Scratch = field(default_factory=Scratch)
    memo: Memo = field(default_factory=Memo)


@dataclass
class Judged:
    """A run's results (on disk), its evidence values, and what they amount to."""

    results: ResultLog
    values: EvidenceValues
    tally: Tally
    waivers: list[WaiverReport]


@dataclass
class _Part:
    """What one part amounted to: its sorted runs of results, its evidence values, its
    tally and the failures each waiver matched."""

    runs: list[Path]
    values: Path
    tally: Tally
    matched: list[int]


def anything_to_judge(job: Job) -> bool:
    """Whether the scope has a target at all."""
    return next(_subjects(job), None) is not None


def judge_run(job: Job) -> Judged:
    """Every target of the run judged, each fact read once."""
    shared = collect(
        shared_requests(job.scope),
        job.clients_for,
        max_workers=job.max_workers,
        service_caps=job.service_caps,
        deadline=job.deadline,
        memo=job.memo,
    )
    total = estimated_facts(job)
    parts = job.processes or default_processes(total)

    def progress(done: int, _total: int) -> None:  # the estimate's end is shown once, last
        if job.progress:
            job.progress(min(done, total - 1), total)

    split = _Split(job, shared, parts)
    outcomes = spread(
        split.judge,
        parts,
        overdue=lambda index: split.judge(index, lambda _: None, ".overdue"),
        total=total,
        progress=progress,
        forget_clients=job.forget_clients,
        deadline=job.deadline,
    )
    if job.progress and total:
        job.progress(total, total)
    return _merged(job, outcomes)


def _subjects(job: Job) -> Iterator[Subject]:
    return subjects(job.scope)


@dataclass(frozen=True)
class _Split:
    """A run judged in ``parts`` parts, once the facts they share are read."""

    job: Job
    shared: Mapping[FactKey, FactOutcome]
    parts: int

    def judge(self, index: int, done: Callable[[int], None], tag: str = "") -> _Part:
        """Judge the resources of part ``index``: fetch each one's facts, judge its
        targets as soon as they are in, write the results (``done``: the facts read so
        far, as they are read; ``tag``: the part's files' tag)."""
        job, shared, parts = self.job, self.shared, self.parts
        scratch = job.scratch.path
        spool = ResultSpool(scratch, f"results.{index}{tag}")
        values = EvidenceValues(scratch, f"values.{index}{tag}")
        tally, ledger = Tally(), WaiverLedger(job.waivers, job.started.date())
        policy, catalog = job.scope.policy, job.scope.catalog
        sharing = sharing_checks(policy)
        workers = math.ceil(job.max_workers / parts)

        def judged(subject: Subject, outcomes: Mapping[FactKey, FactOutcome]) -> None:
            for planned in subject.planned:
                result = evaluate(planned.target, outcomes, catalog, job.started, policy.registry)
                result = ledger.apply(result)
                tally.add(result)
                spool.add(planned.key, stored_line(result, values))

        with Fetcher(
            job.clients_for,
            max_workers=workers,
            service_caps={k: max(1, cap // parts) for k, cap in (job.service_caps or {}).items()},
            deadline=job.deadline,
            memo=job.memo,
            progress=lambda read, _total: done(read),
        ) as fetcher:
            for subject in _subjects(job):
                if subject.part(parts, sharing) != index:
                    continue
                fetcher.wait_for_room(workers * IN_FLIGHT_PER_WORKER)
                requests = {k: r for k, r in subject.requests(policy).items() if k not in shared}
                fetcher.fetch(requests, shared, partial(judged, subject))
        spool.flush()
        values.close()
        return _Part(spool.runs, values.path, tally, ledger.matched)


def _merged(job: Job, parts: list[_Part]) -> Judged:
    """The parts' results in the report's order, their values once each."""
    scratch = job.scratch
    writer = ResultLogWriter(scratch.path / "results.jsonl", owner=scratch)
    runs = [run for part in parts for run in part.runs]
    results = merge_runs(runs, writer)
    for run in runs:
        run.unlink()
    values = EvidenceValues(scratch.path, "evidence.values", owner=scratch)
    tally = Tally()
    ledger = WaiverLedger(job.waivers, job.started.date())
    for part in parts:
        for digest, text in values_in(part.values):
            values.add_canonical(digest, text)
        part.values.unlink()
        tally.update(part.tally)
        ledger.matched = [a + b for a, b in zip(ledger.matched, part.matched, strict=True)]
    return Judged(results, values, tally, ledger.reports())


def estimated_facts(job: Job) -> int:
    """About how many facts the run reads (a resource's facts once per check that needs
    them): what decides the processes and the progress shown."""
    scope = job.scope
    facts = scope.policy.registry.facts
    total = 0
    for where in scope.locations:
        for binding in scope.bindings(where.environment):
            own = len(_resource_facts([facts[name] for name in binding.check.facts]))
            for group in binding.resource_groups if own else ():
                try:
                    total += own * len(scope.resolve(group, where))
                except Unassessable:
                    continue
    return total


def _resource_facts(specs: list[FactSpec]) -> set[str]:
    """The resource's own facts among these and what they depend on."""
    names = {spec.name for spec in specs if spec.scope == "resource"}
    for spec in specs:
        names |= _resource_facts(list(spec.depends_on))
    return names
