"""SARIF 2.1.0 for GitHub code scanning: rules are checks, results are located at the
control file line that lists the check, fingerprints are stable across runs."""

import hashlib
import itertools
from typing import Any, TextIO

from policycheck import __version__
from policycheck.render.streamed import Lists, write_document
from policycheck.report import Report, Result, unassessed

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


def _entry(
    rule_id: str,
    level: str,
    text: str,
    where: dict[str, Any],
    identity: str,
    kind: str | None = None,
    **properties: str,
) -> dict[str, Any]:
    """One SARIF result located at a file and line, with its fingerprint; ``kind``
    notApplicable for a rule that was not evaluated (no alert)."""
    entry: dict[str, Any] = {
        "ruleId": rule_id,
        "level": level,
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": where["uri"]},
                    "region": {"startLine": where["line"]},
                }
            }
        ],
        "partialFingerprints": {"policycheck/v1": identity},
        "properties": properties,
    }
    if kind:
        entry["kind"] = kind
    return entry


#: The rule of results saying that a selected control was not assessed in an environment.
NOT_ASSESSED_RULE = "policycheck-not-assessed"


def _not_assessed(report: Report) -> list[dict[str, Any]]:
    """A result per control and environment that was selected but not assessed (and that
    no result explains), located at the control file: code scanning then shows the gap
    instead of a clean page."""
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
                {"uri": control.source_file or "policy.yaml", "line": 1},
                hashlib.sha256(identity.encode()).hexdigest(),
                environment=environment,
                status="not_assessed",
            )
        )
    return results


#: The rules of a plan's results that judge nothing, by status.
UNJUDGED_RULES = {
    "not_in_plan": (
        "policycheck-not-in-plan",
        "A resource the policy names is not in the Terraform plan",
        "The plan neither has nor creates this resource (a plan of one module shows only "
        "its part of the account): not judged, neither a pass nor a failure.",
        "Judge the plans of every module that manages the policy's resources together, or "
        "rely on the live audit.",
    ),
    "not_assessed": (
        "policycheck-not-judgeable-from-plan",
        "A check a Terraform plan cannot judge",
        "The check needs what only the live account shows (images, running tasks, drill "
        "evidence): not judged on the plan.",
        "The live audit (policycheck run) judges it.",
    ),
}


def _unjudged(report: Report) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A plan's results that judge nothing, as SARIF results of kind notApplicable (the
    rule was not evaluated on the target: no alert), and their rules."""
    results, used = [], {}
    for result in report.results:
        if result.status not in UNJUDGED_RULES:
            continue
        rule_id, short, full, help_text = UNJUDGED_RULES[result.status]
        used[rule_id] = {
            "id": rule_id,
            "name": rule_id,
            "shortDescription": {"text": short},
            "fullDescription": {"text": full},
            "help": {"text": help_text},
            "properties": {"tags": ["coverage", "terraform-plan"]},
        }
        results.append(
            _entry(
                rule_id,
                "none",
                f"{result.check_id} on {result.resource.arn} ({result.environment}): "
                f"{result.message}",
                _location(report, result),
                fingerprint(result),
                kind="notApplicable",
                environment=result.environment,
                status=result.status,
            )
        )
    return results, list(used.values())


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
    """A failure, an error, or a waived failure (suppressed)."""
    entry = _entry(
        result.check_id,
        "error" if result.status == "error" else LEVELS[result.severity],
        f"{result.resource.arn} ({result.environment}): {result.message}",
        _location(report, result),
        fingerprint(result),
        environment=result.environment,
        status=result.status,
    )
    if result.waiver and result.status == "waived":
        entry["suppressions"] = [{"kind": "external", "justification": result.waiver.justification}]
    return entry


def write_sarif(report: Report, out: TextIO) -> None:
    """Failures and errors as results; waived failures as suppressed results; controls
    selected but not assessed as results of their own rule; on a plan, what it could not
    judge as notApplicable results of rules of their own. Written as the results are read
    (three times: the rules come from the last result of each check)."""
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
    unjudged, unjudged_rules = _unjudged(report)
    rules += unjudged_rules
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
                "results": lists(itertools.chain(findings, unjudged, gaps)),
            }
        ],
    }
    write_document(out, sarif, lists)
