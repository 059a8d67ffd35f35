"""SARIF 2.1.0 for GitHub code scanning: rules are checks (their help generic), results
are findings (each saying its own resource and fix), located at the control file line that
lists the check, relative to the repository root; each finding is its own alert.

What code scanning does with a file (GitHub's documentation and upload-sarif): alerts are
keyed on ``partialFingerprints.primaryLocationLineHash`` (computed from the text of the
located line when absent, which would merge every result of a check into one alert);
``kind`` is ignored, so every result opens an alert; severity comes from the rule's
``security-severity``; a file is rejected beyond 25,000 results or rules per run or 20
tags per rule."""

import hashlib
import itertools
import posixpath
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from policycheck.render.streamed import Lists, write_document
from policycheck.report.model import Report, Result, unassessed
from policycheck.version import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
#: GitHub's bands: >= 9.0 critical, >= 7.0 high, >= 4.0 medium, else low.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}
#: GitHub's hard limits per run (a file beyond them is rejected).
MAX_RESULTS = 25_000
MAX_TAGS = 20

#: The rule of results saying that a selected control was not assessed in an environment.
NOT_ASSESSED_RULE = "policycheck-not-assessed"


def _location(report: Report, result_control_ids: list[str], check_id: str) -> dict[str, Any]:
    """The control file line listing the check, relative to the repository root; a
    logical location (the control) when the policy is in no git checkout (shipped inside
    the installed package): no file of the repository holds it."""
    controls = {c.id: c for c in report.controls}
    base = report.run.policy_dir_in_repository
    for control_id in result_control_ids:
        control = controls.get(control_id)
        if control and control.source_file and base is not None:
            return {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": posixpath.join(base, control.source_file),
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {"startLine": control.check_lines.get(check_id, 1)},
                }
            }
    return {
        "logicalLocations": [{"fullyQualifiedName": "/".join([*result_control_ids[:1], check_id])}]
    }


def fingerprint(result: Result) -> str:
    """Stable identity of a finding: the check, the resource ARN and the environment (one
    account may host several environments, which then share ARNs)."""
    identity = f"{result.check_id}|{result.resource.arn}|{result.environment}"
    return hashlib.sha256(identity.encode()).hexdigest()


def _entry(
    rule_id: str,
    level: str,
    text: str,
    location: dict[str, Any],
    identity: str,
    **properties: str,
) -> dict[str, Any]:
    """One SARIF result with its alert identity."""
    return {
        "ruleId": rule_id,
        "level": level,
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"primaryLocationLineHash": identity},
        "properties": properties,
    }


def _not_assessed(report: Report) -> list[dict[str, Any]]:
    """A result per control and environment that a live run was asked to assess and
    produced no result for (and that no result explains): it keeps the run from passing,
    so code scanning shows the gap instead of a clean page."""
    controls = {control.id: control for control in report.controls}
    results = []
    for control_id, environment in unassessed(report.controls, report.results):
        if not environment:
            continue  # a report of an older version: its gap is the run's (run.gaps)
        control = controls[control_id]
        reason = control.environments[environment].reason
        identity = f"{NOT_ASSESSED_RULE}|{control.id}|{environment}"
        results.append(
            _entry(
                NOT_ASSESSED_RULE,
                "error",
                f"{control.id} not assessed in {environment}: {reason}",
                _location(report, [control.id], ""),
                hashlib.sha256(identity.encode()).hexdigest(),
                environment=environment,
                status="not_assessed",
            )
        )
    return results


NOT_ASSESSED_RULE_DESCRIPTION: dict[str, Any] = {
    "id": NOT_ASSESSED_RULE,
    "shortDescription": {"text": "A selected control was not assessed"},
    "fullDescription": {
        "text": "The run was asked to assess this control in this environment "
        "and produced no result for it: it is not a pass."
    },
    "help": {"text": "Bind its checks in policy.yaml, or audit the environment."},
    "properties": {
        "severity": "high",
        "security-severity": SECURITY_SEVERITY["high"],
        "tags": ["security", "coverage"],
    },
}


def _unjudged_notifications(report: Report) -> list[dict[str, Any]]:
    """What a plan could not judge, one notification per check and status: said, but not
    an alert (code scanning opens an alert for every result, whatever its kind)."""
    counted: dict[tuple[str, str], list[Result]] = {}
    for result in report.results:
        if result.status in ("not_assessed", "not_in_plan"):
            counted.setdefault((result.check_id, result.status), []).append(result)
    return [
        _notification(
            f"{check_id}: {len(results)} result(s) "
            + (
                "on resources the plan neither has nor creates (not judged)"
                if status == "not_in_plan"
                else f"not judgeable from a plan: {results[0].message}"
            )
        )
        for (check_id, status), results in counted.items()
    ]


def _notification(text: str) -> dict[str, Any]:
    return {"level": "note", "message": {"text": text}}


def _rule(result: Result) -> dict[str, Any]:
    """A check as a rule: what it verifies, the same in every run (what failed, where,
    and how to fix it is each result's message)."""
    controls = ", ".join(result.control_ids) or "no control"
    return {
        "id": result.check_id,
        "shortDescription": {"text": result.title},
        "fullDescription": {"text": f"{result.title} (evidences {controls})."},
        "help": {
            "text": f"{result.title}. Each alert names the resource and environment, what "
            "was observed against what the policy expects, and the fix for that resource."
        },
        "properties": {
            "severity": result.severity,
            "security-severity": SECURITY_SEVERITY[result.severity],
            "tags": ["security", *result.control_ids][:MAX_TAGS],
        },
    }


def _finding(report: Report, result: Result) -> dict[str, Any]:
    """A failure, an error, or a waived failure (suppressed): the resource, what was
    found, and its fix."""
    fix = f" Fix: {result.remediation}" if result.status != "error" else ""
    entry = _entry(
        result.check_id,
        "error" if result.status == "error" else LEVELS[result.severity],
        f"{result.resource.arn} ({result.environment}): {result.message.rstrip('.')}.{fix}",
        _location(report, result.control_ids, result.check_id),
        fingerprint(result),
        environment=result.environment,
        status=result.status,
    )
    if result.waiver and result.status == "waived":
        entry["suppressions"] = [{"kind": "external", "justification": result.waiver.justification}]
    return entry


class _Capped:
    """The first ``limit`` items of an iterable, counting the rest as they are read."""

    def __init__(self, items: Iterable[dict[str, Any]], limit: int) -> None:
        self.items, self.limit, self.left_out = items, limit, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for index, item in enumerate(self.items):
            if index < self.limit:
                yield item
            else:
                self.left_out += 1

    def notifications(self) -> Iterator[dict[str, Any]]:
        """Read after the results: says how many were left out, if any."""
        if self.left_out:
            yield _notification(
                f"{self.left_out} result(s) left out: GitHub code scanning accepts at most "
                f"{self.limit:,} per run; report.json has them all."
            )


def write_sarif(report: Report, out: TextIO) -> None:
    """Failures and errors as results, worst first (waived failures, suppressed, last);
    controls a live run was asked to assess but did not as results of their own rule; on
    a plan, what it could not judge as notifications (no alert). At most MAX_RESULTS
    results, with a notification saying how many were left out. Written as the results
    are read (several times: the rules come from the last result of each check)."""
    by_check = {
        r.check_id: r for r in report.results if r.status not in ("not_assessed", "not_in_plan")
    }
    rules = [_rule(result) for _, result in sorted(by_check.items())]
    gaps = _not_assessed(report)
    if gaps:
        rules.append(NOT_ASSESSED_RULE_DESCRIPTION)
    findings = (
        _finding(report, r)
        for statuses in (("fail", "error"), ("waived",))
        for r in report.results
        if r.status in statuses
    )
    capped = _Capped(itertools.chain(gaps, findings), MAX_RESULTS)
    lists = Lists()
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "policycheck", "version": __version__, "rules": rules}},
        "originalUriBaseIds": {
            "%SRCROOT%": {"description": {"text": "The root of the policy's git repository."}}
        },
        "results": lists(capped),
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": lists(
                    itertools.chain(_unjudged_notifications(report), capped.notifications())
                ),
            }
        ],
    }
    write_document(out, {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, lists)
