"""SARIF 2.1.0 for GitHub code scanning: rules are checks, results are located at the
control file line that lists the check, fingerprints are stable across runs."""

import hashlib
import itertools
from typing import Any, TextIO

from policycheck import __version__
from policycheck.render.streamed import Lists, write_document
from policycheck.report import Report, Result

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}


def _location(report: Report, result: Result) -> dict[str, Any]:
    controls = {c.id: c for c in report.controls}
    for control_id in result.control_ids:
        control = controls.get(control_id)
        if control and control.source_file:
            return {"uri": control.source_file, "line": control.check_lines.get(result.check_id, 1)}
    return {"uri": report.run.policy_file.rsplit("/", 1)[-1] or "policy.yaml", "line": 1}


def fingerprint(result: Result) -> str:
    """Stable identity of a finding: the check, the resource ARN and the environment (one
    account may host several environments, which then share ARNs)."""
    identity = f"{result.check_id}|{result.resource.arn}|{result.environment}"
    return hashlib.sha256(identity.encode()).hexdigest()


#: The rule of results saying that a selected control was not assessed in an environment.
NOT_ASSESSED_RULE = "policycheck-not-assessed"


def _not_assessed(report: Report) -> list[dict[str, Any]]:
    """A result per control and environment that was selected but not assessed, located
    at the control file: code scanning then shows the gap instead of a clean page."""
    results = []
    for control in report.controls:
        for environment, there in control.environments.items():
            if there.status != "not_assessed":
                continue
            identity = f"{NOT_ASSESSED_RULE}|{control.id}|{environment}"
            results.append(
                {
                    "ruleId": NOT_ASSESSED_RULE,
                    "level": "error",
                    "message": {
                        "text": f"{control.id} not assessed in {environment}: {there.reason}"
                    },
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": control.source_file or "policy.yaml"},
                                "region": {"startLine": 1},
                            }
                        }
                    ],
                    "partialFingerprints": {
                        "policycheck/v1": hashlib.sha256(identity.encode()).hexdigest()
                    },
                    "properties": {"environment": environment, "status": "not_assessed"},
                }
            )
    return results


NOT_ASSESSED_RULE_DESCRIPTION: dict[str, Any] = {
    "id": NOT_ASSESSED_RULE,
    "name": NOT_ASSESSED_RULE,
    "shortDescription": {"text": "A selected control was not assessed"},
    "fullDescription": {
        "text": "The run was asked to assess this control in this environment "
        "and produced no result for it: it is not a pass."
    },
    "help": {"text": "Bind its checks in policy.yaml, or audit the environment."},
    "properties": {"severity": "high", "tags": ["coverage"]},
}


def _finding(report: Report, result: Result) -> dict[str, Any]:
    """A SARIF result for a failure, an error or a waived failure (suppressed)."""
    where = _location(report, result)
    entry: dict[str, Any] = {
        "ruleId": result.check_id,
        "level": "error" if result.status == "error" else LEVELS[result.severity],
        "message": {"text": f"{result.resource.arn} ({result.environment}): {result.message}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": where["uri"]},
                    "region": {"startLine": where["line"]},
                }
            }
        ],
        "partialFingerprints": {"policycheck/v1": fingerprint(result)},
        "properties": {"environment": result.environment, "status": result.status},
    }
    if result.waiver and result.status == "waived":
        entry["suppressions"] = [{"kind": "external", "justification": result.waiver.justification}]
    return entry


def write_sarif(report: Report, out: TextIO) -> None:
    """Failures and errors as results; waived failures as suppressed results; controls
    selected but not assessed as results of their own rule. Written as the results are
    read (twice: the rules come from the last result of each check)."""
    by_check = {r.check_id: r for r in report.results}
    rules = [
        {
            "id": check_id,
            "name": check_id,
            "shortDescription": {"text": result.title},
            "fullDescription": {"text": result.title},
            "help": {"text": result.remediation},
            "properties": {"severity": result.severity, "tags": result.control_ids},
        }
        for check_id, result in sorted(by_check.items())
    ]
    findings = (
        _finding(report, r) for r in report.results if r.status in ("fail", "error", "waived")
    )
    gaps = _not_assessed(report)
    if gaps:
        rules.append(NOT_ASSESSED_RULE_DESCRIPTION)
    lists = Lists()
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "policycheck",
                        "version": __version__,
                        "informationUri": "https://github.com/",
                        "rules": rules,
                    }
                },
                "results": lists(itertools.chain(findings, gaps)),
            }
        ],
    }
    write_document(out, sarif, lists)
