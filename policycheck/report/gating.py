"""The exit-code contract: which results make a run fail a pipeline."""

from typing import Literal

from policycheck.errors import EXIT_ERROR, EXIT_FAIL, EXIT_PASS
from policycheck.report.model import Report, result_key, unassessed

FailOn = Literal["error", "fail", "none"]
SEVERITY_ORDER = ("critical", "high", "medium", "low")


def exit_code(
    report: Report,
    fail_on: FailOn = "error",
    min_severity: str = "low",
    baseline: Report | None = None,
) -> int:
    """1 if a gating result failed; else 3 if something selected was not assessed or the
    deadline cut the run short (always), or if a gating result is an error (unless
    ``fail_on`` is ``fail``: read errors are then reported only); else 0. Gating results
    are those of ``min_severity`` or above; waived results never gate, nor do a plan's
    results that judge nothing (not in the plan, not judgeable from a plan);
    ``fail_on=none`` always gives 0. With a ``baseline`` (an earlier report or the live
    audit), a result gates only if it is new: its status differs from the baseline's for
    the same check, resource and environment."""
    if fail_on == "none":
        return EXIT_PASS
    floor = SEVERITY_ORDER.index(min_severity)
    known = {result_key(r): r.status for r in baseline.results} if baseline else {}
    statuses = {
        r.status
        for r in report.results
        if SEVERITY_ORDER.index(r.severity) <= floor and known.get(result_key(r)) != r.status
    }
    if "fail" in statuses:
        return EXIT_FAIL
    if incomplete(report) or (fail_on == "error" and "error" in statuses):
        return EXIT_ERROR
    return EXIT_PASS


def incomplete(report: Report) -> bool:
    """Whether the run did not assess all it was asked to: a gap, a control not assessed
    in some environment that no result explains, or facts the deadline left unread."""
    return (
        bool(report.run.gaps)
        or report.run.deadline_reached
        or bool(unassessed(report.controls, report.results))
    )
