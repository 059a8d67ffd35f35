"""The exit-code contract: which results make a run fail a pipeline."""

from typing import Literal

from policycheck.errors import EXIT_ERROR, EXIT_FAIL, EXIT_PASS
from policycheck.report import Report

FailOn = Literal["error", "fail", "none"]
SEVERITY_ORDER = ("critical", "high", "medium", "low")


def exit_code(report: Report, fail_on: FailOn = "error", min_severity: str = "low") -> int:
    """1 if a gating result failed; else 3 if something selected was not assessed or the
    deadline cut the run short (always), or if a gating result is an error (unless
    ``fail_on`` is ``fail``: read errors are then reported only); else 0. Gating results
    are those of ``min_severity`` or above; waived results never gate; ``fail_on=none``
    always gives 0."""
    if fail_on == "none":
        return EXIT_PASS
    floor = SEVERITY_ORDER.index(min_severity)
    statuses = {r.status for r in report.results if SEVERITY_ORDER.index(r.severity) <= floor}
    if "fail" in statuses:
        return EXIT_FAIL
    if incomplete(report) or (fail_on == "error" and "error" in statuses):
        return EXIT_ERROR
    return EXIT_PASS


def incomplete(report: Report) -> bool:
    """Whether the run did not assess all it was asked to: a gap, a control not assessed
    in some environment, or facts the deadline left unread."""
    return (
        bool(report.run.gaps)
        or report.run.deadline_reached
        or any(
            c.status == "not_assessed"
            or any(e.status == "not_assessed" for e in c.environments.values())
            for c in report.controls
        )
    )
