"""The auditor's control matrix as CSV: one row per result and control.

A cell a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or carriage return: OWASP's CSV injection) is written with a ``'`` in front: the
policy files of a pull request, an environment's name or an edited report.json are
input."""

import csv
from collections.abc import Iterable
from typing import TextIO

from policycheck.report.model import REMEDIABLE, Report

COLUMNS = [
    "control",
    "requirement",
    "environment",
    "account",
    "region",
    "resource_arn",
    "check",
    "status",
    "reason",
    "timestamp",
    "tool_version",
    "evidence_sha256",
    "frameworks",
    "severity",
    "remediation",
]

#: What starts a formula in Excel, LibreOffice or Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: object) -> str:
    """A cell as text no spreadsheet evaluates; a carriage return in it as a line break
    (the writer quotes a cell with one, not with a lone CR: the row would split)."""
    text = "" if cell is None else str(cell)
    text = "'" + text if text.startswith(FORMULA_STARTS) else text
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _InertWriter:
    """A csv writer whose every cell is inert."""

    def __init__(self, out: TextIO) -> None:
        self.writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[object]) -> None:
        self.writer.writerow([inert(cell) for cell in row])


def framework_refs(frameworks: dict[str, dict[str, str]]) -> str:
    """A control's crosswalk in one cell: ``NIST-800-53:CP-9;ISO-27001:A.8.13``."""
    return ";".join(f"{name}:{req}" for name, mapped in frameworks.items() for req in mapped)


def write_csv(report: Report, out: TextIO) -> None:
    """Rows sorted as the results are; a result evidencing no control has an empty one.
    Then a row per control and environment without a result, with the control's status
    there (not assessed, not applicable, ...) and why. Written as the results are read."""
    requirements = {c.id: c.requirements for c in report.controls}
    crosswalk = {c.id: framework_refs(c.frameworks) for c in report.controls}
    writer = _InertWriter(out)
    writer.writerow(COLUMNS)
    judged = _write_results(writer, report, requirements, crosswalk)
    for control in report.controls:
        for environment, there in control.environments.items():
            if not any((environment, check) in judged for check in control.checks):
                no_resource = ["", "", "", ""]  # account, region, resource ARN, check
                writer.writerow(
                    [
                        control.id,
                        "",
                        environment,
                        *no_resource,
                        there.status,
                        there.reason,
                        "",
                        report.run.tool_version,
                        "",
                        crosswalk[control.id],
                        "",  # severity
                        "",  # remediation
                    ]
                )


def _write_results(
    writer: _InertWriter,
    report: Report,
    requirements: dict[str, dict[str, str]],
    crosswalk: dict[str, str],
) -> set[tuple[str, str]]:
    """A row per result and control; the (environment, check) pairs with a result."""
    judged = set()
    for result in report.results:
        judged.add((result.environment, result.check_id))
        for control_id in result.control_ids or [""]:
            writer.writerow(
                [
                    control_id,
                    requirements.get(control_id, {}).get(result.check_id, ""),
                    result.environment,
                    result.resource.account_id,
                    result.resource.region,
                    result.resource.arn,
                    result.check_id,
                    result.status,
                    result.message,
                    result.evidence.facts[0].fetched_at
                    if result.evidence and result.evidence.facts
                    else report.run.finished_at,
                    report.run.tool_version,
                    result.evidence.sha256 if result.evidence else "",
                    crosswalk.get(control_id, ""),
                    result.severity,
                    result.remediation if result.status in REMEDIABLE else "",
                ]
            )
    return judged
