"""NIST OSCAL 1.x assessment-results: a finding per assessed control, an observation per
result (method TEST, the resource as subject), the report's hash in back-matter."""

import hashlib
import json
import uuid
from typing import Any

from policycheck.crosswalk import FRAMEWORKS
from policycheck.report import ControlResult, Report, Result

OSCAL_VERSION = "1.2.3"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:policycheck")
#: The namespace of policycheck's own props (OSCAL props outside NIST's need one).
CROSSWALK_NS = "urn:policycheck:crosswalk"
SATISFIED = {
    "pass": "satisfied",
    "fail": "not-satisfied",
    "error": "not-satisfied",
    "waived": "not-satisfied",
    # selected but not assessed, or not in the Terraform plan judged: never satisfied
    # (fail closed)
    "not_assessed": "not-satisfied",
    "not_in_plan": "not-satisfied",
}


def _uuid(report: Report, *parts: str) -> str:
    """Deterministic: re-rendering a saved report gives the same document."""
    return str(
        uuid.uuid5(NAMESPACE, "|".join([report.run.started_at, report.run.policy_sha256, *parts]))
    )


def _observation(report: Report, result: Result) -> dict[str, Any]:
    key = (result.environment, result.check_id, result.resource.arn)
    observation: dict[str, Any] = {
        "uuid": _uuid(report, "observation", *key),
        "title": f"{result.check_id} on {result.resource.name} ({result.environment})",
        "description": f"{result.status.upper()}: {result.message}",
        "methods": ["TEST"],
        "subjects": [
            {
                "subject-uuid": _uuid(report, "subject", result.resource.arn),
                "type": "resource",
                "title": result.resource.arn,
            }
        ],
        "collected": (
            result.evidence.facts[0].fetched_at
            if result.evidence and result.evidence.facts
            else report.run.finished_at
        ),
    }
    if result.evidence:
        observation["relevant-evidence"] = [
            {
                "description": f"Facts {', '.join(f.name for f in result.evidence.facts)}; "
                f"SHA-256 {result.evidence.sha256}",
            }
        ]
    return observation


def _finding(
    report: Report, control: ControlResult, observations: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    own = [r for r in report.results if r.check_id in control.checks]
    return {
        "uuid": _uuid(report, "finding", control.id),
        "title": f"{control.id} {control.title}",
        "description": f"{control.status.upper()}: {control.counts.pass_} passed, "
        f"{control.counts.fail} failed, {control.counts.error} errors, "
        f"{control.counts.waived} waived"
        + (
            f", {control.counts.not_in_plan} not in the plan, "
            f"{control.counts.not_assessed} not judgeable from a plan."
            if report.run.sources
            else "."
        )
        + (f" {control.reason}." if control.reason else ""),
        "target": {
            "type": "objective-id",
            "target-id": control.id,
            "status": {"state": SATISFIED[control.status]},
        },
        "related-observations": [{"observation-uuid": observations[id(r)]["uuid"]} for r in own],
        **_crosswalk(control.frameworks),
    }


def _crosswalk(frameworks: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A finding's framework requirements: a prop each (class: the framework, value: the
    requirement, remarks: why) and a link to each framework."""
    if not frameworks:
        return {}
    return {
        "props": [
            {
                "name": "framework-requirement",
                "ns": CROSSWALK_NS,
                "class": name,
                "value": requirement,
                "remarks": reason,
            }
            for name, mapped in frameworks.items()
            for requirement, reason in mapped.items()
        ],
        "links": [
            {
                "href": FRAMEWORKS[name].url,
                "rel": "reference",
                "text": f"{FRAMEWORKS[name].title}: {', '.join(mapped)}",
            }
            for name, mapped in frameworks.items()
            if name in FRAMEWORKS
        ],
    }


def _back_matter(report: Report) -> dict[str, Any]:
    """report.json, identified by the SHA-256 of its text."""
    report_json = report.model_dump_json(indent=2, by_alias=True) + "\n"
    digest = hashlib.sha256(report_json.encode()).hexdigest()
    return {
        "resources": [
            {
                "uuid": _uuid(report, "report.json"),
                "title": "policycheck report.json",
                "rlinks": [
                    {"href": "report.json", "hashes": [{"algorithm": "SHA-256", "value": digest}]}
                ],
            }
        ]
    }


def _checked(report: Report) -> str:
    """What was checked: Terraform plans before apply, or the live account."""
    if not report.run.sources:
        return "Live AWS configuration and DR drill evidence checked by "
    plans = ", ".join(f"{s.path}, SHA-256 {s.sha256}" for s in report.run.sources)
    return f"Terraform plans ({plans}) checked before apply by "


def render_oscal(report: Report) -> str:
    """OSCAL assessment results: an observation per result, a finding per assessed control,
    report.json (by its SHA-256) as back matter."""
    observations = {id(r): _observation(report, r) for r in report.results}
    findings = [
        _finding(report, control, observations)
        for control in report.controls
        if control.status in SATISFIED  # manual, not applicable, not selected: no finding
    ]
    document: dict[str, Any] = {
        "assessment-results": {
            "uuid": _uuid(report, "assessment-results"),
            "metadata": {
                "title": "policycheck assessment of backup and disaster-recovery controls",
                "last-modified": report.run.finished_at,
                "version": report.run.tool_version,
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {"href": report.run.policy_file.rsplit("/", 1)[-1]},
            "results": [
                {
                    "uuid": _uuid(report, "result"),
                    "title": "Automated assessment",
                    "description": _checked(report) + f"policycheck {report.run.tool_version} in "
                    f"{', '.join(e.name for e in report.run.environments)}.",
                    "start": report.run.started_at,
                    "end": report.run.finished_at,
                    "reviewed-controls": {
                        "control-selections": [
                            {
                                "include-controls": [{"control-id": c.id} for c in report.controls],
                            }
                        ]
                    },
                    "observations": list(observations.values()),
                    "findings": findings,
                }
            ],
            "back-matter": _back_matter(report),
        }
    }
    if not document["assessment-results"]["results"][0]["observations"]:
        del document["assessment-results"]["results"][0]["observations"]
    return json.dumps(document, indent=2) + "\n"
