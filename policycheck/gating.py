"""The exit-code contract: which results make a run fail a pipeline."""

from typing import Literal

from policycheck.report import Report

FailOn = Literal["error", "fail", "none"]
SEVERITY_ORDER = ("critical", "high", "medium", "low")

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


def exit_code(report: Report, fail_on: FailOn = "error", min_severity: str = "low") -> int:
    """1 if a gating result failed; else 3 if one errored or something selected was not
    assessed (unless ``fail_on`` is ``fail``); else 0. Gating results are those of
    ``min_severity`` or above; waived results never gate; ``fail_on=none`` always gives 0."""
    if fail_on == "none":
        return EXIT_PASS
    floor = SEVERITY_ORDER.index(min_severity)
    statuses = {r.status for r in report.results if SEVERITY_ORDER.index(r.severity) <= floor}
    if "fail" in statuses:
        return EXIT_FAIL
    if fail_on == "error" and ("error" in statuses or not_assessed(report)):
        return EXIT_ERROR
    return EXIT_PASS


def not_assessed(report: Report) -> bool:
    """Whether part of what the run was asked to assess was not (a gap or a control)."""
    return bool(report.run.gaps) or any(c.status == "not_assessed" for c in report.controls)
