"""A compliance timeline over many reports (say a year of nightly artifacts): per control
and environment the status of each day, when each failure started and ended, the days
out of compliance, and where the policy or a control file changed between two reports.

Reports are read one at a time and only their statuses are kept. A day's status is the
one of the last report that day (by start time) covering the environment, so merged
reports and one report per environment both work. A failure lasts from the first day a
control fails until the first day it is seen passing (or waived, or not applicable): days
between without evidence (no report, an error, not assessed) count as out of compliance,
since nothing showed it fixed.

Only reports of the live accounts are evidence: a report judged on a Terraform plan
(run.sources) or made by the demo against a simulated account (run.simulated) is skipped,
and the history lists it with the reason. A report of schema 1.0 covers the environments
it reached; a shard missing from a merge shows as the environment ``*`` (not assessed)."""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from itertools import pairwise
from pathlib import Path

from pydantic import Field

from policycheck.errors import InputError
from policycheck.report.model import (
    Report,
    ReportModel,
    control_status_in,
    live_evidence_problem,
    report_environments,
)
from policycheck.report.reader import read_report

#: A day without a report covering the control's environment.
NO_REPORT = "no_report"
#: Statuses that show a failure is over: fixed, accepted by a waiver, or out of scope.
ENDS_FAILURE = ("pass", "waived", "not_applicable")
#: The file a directory of reports is searched for (recursively).
REPORT_NAME = "report.json"


class FailurePeriod(ReportModel):
    started: str = Field(description="The first day the control failed (YYYY-MM-DD).")
    ended: str | None = Field(
        description="The first day it was seen not failing; null: still failing at the end."
    )
    ended_as: str | None = Field(description="The status that ended it: pass, waived, ...")
    days: int = Field(description="Days out of compliance: from the start to the end.")


class Timeline(ReportModel):
    control_id: str
    title: str
    environment: str
    statuses: list[str] = Field(
        description="One status per day of the period, first day first (no_report: none)."
    )
    failures: list[FailurePeriod]
    days_out_of_compliance: int
    days_by_status: dict[str, int]


class PolicyChange(ReportModel):
    """Two consecutive reports made from different policy or control files."""

    date: str
    report: str = Field(description="The first report made with the new files.")
    changed: list[str] = Field(description="The input files whose SHA-256 differs.")
    policy_sha256_before: str
    policy_sha256_after: str


class SkippedReport(ReportModel):
    """A report read but not counted, and why."""

    report: str
    reason: str


class History(ReportModel):
    start: str
    end: str
    reports: int = Field(description="Reports within the period counted as evidence.")
    latest: str = Field(description="The latest report of the period.")
    used: list[str] = Field(default_factory=list, description="The reports counted, oldest first.")
    skipped: list[SkippedReport] = Field(
        default_factory=list,
        description="Reports not counted: outside the period, or no evidence of the live "
        "accounts (judged on a Terraform plan, or made by the demo).",
    )
    timelines: list[Timeline]
    policy_changes: list[PolicyChange]

    @property
    def days(self) -> list[str]:
        """Every day of the period (YYYY-MM-DD)."""
        first = date.fromisoformat(self.start)
        count = (date.fromisoformat(self.end) - first).days + 1
        return [(first + timedelta(days=n)).isoformat() for n in range(count)]


@dataclass(frozen=True)
class Period:
    """What the history's views show: the history, and the latest report of its period
    (history.html shows it whole), read by ``read`` (from a file, or from the archive)
    when a view first asks for it."""

    history: History
    read: Callable[[str], Report]

    @cached_property
    def latest(self) -> Report:
        return self.read(self.history.latest)


@dataclass(frozen=True)
class _Run:
    """What is kept of one report: when, which file, and from which inputs."""

    started: datetime
    path: str
    policy_sha256: str
    inputs: dict[str, str]


def counted(number: int, noun: str) -> str:
    """``1 day``, ``2 days``: a number and its noun in the right number."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class NamedReport:
    """A report file read under another name (a report of the archive, downloaded)."""

    name: str
    path: Path

    def read(self) -> Report:
        try:
            return read_report(self.path)
        except InputError as exc:
            raise InputError(str(exc).replace(str(self.path), self.name)) from None


def report_files(inputs: Iterable[Path]) -> Iterator[Path]:
    """The report files named, each once: files as given, directories searched for
    report.json."""
    seen: set[Path] = set()
    for path in inputs:
        found = sorted(path.rglob(REPORT_NAME)) if path.is_dir() else [path]
        if not found:
            raise InputError(f"{path}: no {REPORT_NAME} in it or below it")
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                yield file


def started_at(text: str, path: str | Path) -> datetime:
    """A report's start time in UTC (a time without zone is read as UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{path}: run.started_at: not an ISO 8601 time ({text!r})") from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


class _Collector:
    """Per (control, environment) and day, the status of the day's last report."""

    def __init__(self, since: date | None, until: date | None) -> None:
        self.since, self.until = since, until
        self.days: dict[tuple[str, str], dict[date, tuple[datetime, str]]] = {}
        self.titles: dict[str, tuple[datetime, str]] = {}
        self.runs: list[_Run] = []
        self.skipped: list[SkippedReport] = []

    def add(self, source: "Path | NamedReport") -> None:
        named = source if isinstance(source, NamedReport) else NamedReport(str(source), source)
        report = named.read()
        started = started_at(report.run.started_at, named.name)
        day = started.date()
        if (self.since and day < self.since) or (self.until and day > self.until):
            self.skipped.append(SkippedReport(report=named.name, reason="outside the period"))
            return
        problem = live_evidence_problem(report)
        if problem:
            self.skipped.append(SkippedReport(report=named.name, reason=problem))
            return
        policy_name = report.run.policy_file.rsplit("/", 1)[-1]
        inputs = {**report.run.input_sha256, policy_name: report.run.policy_sha256}
        self.runs.append(_Run(started, named.name, report.run.policy_sha256, inputs))
        environments = _environments(report)  # read once: every result of the report
        for control in report.controls:
            if control.id not in self.titles or self.titles[control.id][0] <= started:
                self.titles[control.id] = (started, control.title)
            for environment in environments:
                seen = self.days.setdefault((control.id, environment), {})
                if day not in seen or seen[day][0] <= started:
                    seen[day] = (started, control_status_in(report, control, environment))


def _environments(report: Report) -> list[str]:
    """The environments a report gives a status in. A report of schema 1.0 carries the
    whole-run gap ``*`` (what it did not assess is unknown): not an environment; its
    environments are those it reached and those of its results. (A merge missing a shard
    records ``*`` per control: kept.)"""
    environments = report_environments(report)
    if not any("*" in control.environments for control in report.controls):
        environments = [env for env in environments if env != "*"]
    return list(dict.fromkeys([*environments, *(r.environment for r in report.results)]))


def build_history(
    paths: Iterable["Path | NamedReport"], since: date | None = None, until: date | None = None
) -> History:
    """The timeline of the reports at ``paths`` (files; see report_files), limited to the
    days from ``since`` to ``until`` (default: the first and last report's days)."""
    collector = _Collector(since, until)
    for path in paths:
        collector.add(path)
    if not collector.runs:
        reasons = Counter(skipped.reason for skipped in collector.skipped)
        why = ", ".join(f"{number} {reason}" for reason, number in reasons.items())
        raise InputError(
            "history: no report within the period of the live accounts"
            + (f" (skipped: {why})" if why else "")
        )
    runs = sorted(collector.runs, key=lambda run: run.started)
    start = since or runs[0].started.date()
    end = until or runs[-1].started.date()
    count = (end - start).days + 1
    timelines = [
        _timeline(
            control_id,
            collector.titles[control_id][1],
            environment,
            [seen[day][1] if day in seen else NO_REPORT for day in _dates(start, count)],
            start,
        )
        for (control_id, environment), seen in sorted(
            collector.days.items(), key=lambda item: item[0][0]
        )
    ]
    return History(
        start=start.isoformat(),
        end=end.isoformat(),
        reports=len(runs),
        latest=runs[-1].path,
        used=[run.path for run in runs],
        skipped=collector.skipped,
        timelines=timelines,
        policy_changes=policy_changes(runs),
    )


def _dates(start: date, count: int) -> list[date]:
    return [start + timedelta(days=n) for n in range(count)]


def _timeline(
    control_id: str, title: str, environment: str, statuses: list[str], start: date
) -> Timeline:
    failures = failure_periods(statuses, start)
    return Timeline(
        control_id=control_id,
        title=title,
        environment=environment,
        statuses=statuses,
        failures=failures,
        days_out_of_compliance=sum(f.days for f in failures),
        days_by_status=dict(Counter(statuses)),
    )


def failure_periods(statuses: list[str], start: date) -> list[FailurePeriod]:
    """Each failure: from a failing day to the first day seen not failing (ENDS_FAILURE),
    or open at the end of the period."""
    periods: list[FailurePeriod] = []
    opened: int | None = None
    for index, status in enumerate([*statuses, None]):
        ends = status is None or status in ENDS_FAILURE
        if opened is None and status == "fail":
            opened = index
        elif opened is not None and ends:
            periods.append(
                FailurePeriod(
                    started=(start + timedelta(days=opened)).isoformat(),
                    ended=None if status is None else (start + timedelta(days=index)).isoformat(),
                    ended_as=status,
                    days=index - opened,
                )
            )
            opened = None
    return periods


def policy_changes(runs: list[_Run]) -> list[PolicyChange]:
    """Consecutive reports (by start time) made from different inputs. Only inputs both
    reports record are compared (reports of schema 1.0 record the policy's alone)."""
    changes = []
    for before, after in pairwise(runs):
        changed = sorted(
            name
            for name in before.inputs.keys() & after.inputs.keys()
            if before.inputs[name] != after.inputs[name]
        )
        if changed:
            changes.append(
                PolicyChange(
                    date=after.started.date().isoformat(),
                    report=after.path,
                    changed=changed,
                    policy_sha256_before=before.policy_sha256,
                    policy_sha256_after=after.policy_sha256,
                )
            )
    return changes
