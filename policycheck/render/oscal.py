"""NIST OSCAL 1.x assessment-results: a finding per assessed control, an observation per
result (method TEST, the resource as subject), the report's hash in back-matter."""

import hashlib
import io
import uuid
from typing import Any, TextIO, cast

from policycheck.crosswalk import FRAMEWORKS
from policycheck.render.reportjson import write_json
from policycheck.render.streamed import Lists, write_document
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


def _observation_uuid(report: Report, result: Result) -> str:
    return _uuid(report, "observation", result.environment, result.check_id, result.resource.arn)


def _observation(report: Report, result: Result) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "uuid": _observation_uuid(report, result),
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


def _finding(report: Report, control: ControlResult, lists: Lists) -> dict[str, Any]:
    own = (r for r in report.results if r.check_id in control.checks)
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
        "related-observations": lists(
            {"observation-uuid": _observation_uuid(report, r)} for r in own
        ),
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


class _Hashing(io.TextIOBase):
    """A text sink that keeps only the SHA-256 of what is written (UTF-8)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        self.digest.update(text.encode())
        return len(text)


def _back_matter(report: Report) -> dict[str, Any]:
    """report.json, identified by the SHA-256 of its text."""
    sink = _Hashing()
    write_json(report, cast(TextIO, sink))
    digest = sink.digest.hexdigest()
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


def write_oscal(report: Report, out: TextIO) -> None:
    """OSCAL assessment results: an observation per result, a finding per assessed control,
    report.json (by its SHA-256) as back matter. Written as the results are read (once
    for the observations, once per control for its findings' observations)."""
    lists = Lists()
    findings = [
        _finding(report, control, lists)
        for control in report.controls
        if control.status in SATISFIED  # manual, not applicable, not selected: no finding
    ]
    result: dict[str, Any] = {
        "uuid": _uuid(report, "result"),
        "title": "Automated assessment",
        "description": _checked(report) + f"policycheck {report.run.tool_version} in "
        f"{', '.join(e.name for e in report.run.environments)}.",
        "start": report.run.started_at,
        "end": report.run.finished_at,
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": c.id} for c in report.controls]}
            ]
        },
    }
    if report.results:
        result["observations"] = lists(_observation(report, r) for r in report.results)
    result["findings"] = findings
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
            "results": [result],
            "back-matter": _back_matter(report),
        }
    }
    write_document(out, document, lists)
