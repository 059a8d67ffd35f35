"""NIST OSCAL 1.2, three documents that refer to one another: the organisation's controls as
a **catalog** (the objective as each control's statement, the checks' and the manual
statements as its items, framework mappings as props and links), the run as an **assessment
plan** (which checks assess which control, on which resources, the resources as inventory
items by ARN) and its **assessment results** (a finding per assessed control on the
catalog's statement, an observation per result on its inventory item, report.json by its
SHA-256 as the evidence of each observation). No OSCAL system security plan exists: the
plan's ``import-ssp`` points at its back matter's policy file, and its local definitions
hold what an SSP would (the resources)."""

import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO, cast

from policycheck.policy.crosswalk import FRAMEWORKS
from policycheck.render.streamed import Lists, write_document
from policycheck.report.model import ControlResult, Report, Result

if TYPE_CHECKING:
    from policycheck.policy.controls import Control

OSCAL_VERSION = "1.2.3"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:policycheck")
#: The namespace of policycheck's own props (OSCAL props outside NIST's need one).
POLICYCHECK_NS = "urn:policycheck"
CROSSWALK_NS = "urn:policycheck:crosswalk"
CATALOG_FILE = "catalog.json"
PLAN_FILE = "assessment-plan.json"
RESULTS_FILE = "assessment-results.json"
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


def _lasting_uuid(*parts: str) -> str:
    """The same in every run: a resource, a check."""
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def _metadata(title: str, last_modified: str, version: str) -> dict[str, str]:
    return {
        "title": title,
        "last-modified": last_modified,
        "version": version,
        "oscal-version": OSCAL_VERSION,
    }


def statement_id(control_id: str) -> str:
    """The id of a control's statement (its objective) in the catalog: what a finding
    targets."""
    return f"{control_id}_smt"


@dataclass(frozen=True)
class CatalogControl:
    """What the catalog says of a control: from its control file, or from a report's
    control result (which carries the same)."""

    id: str
    title: str
    objective: str
    #: Per check id, the policy sentence it verifies.
    requirements: Mapping[str, str]
    manual: Sequence[str]
    frameworks: Mapping[str, Mapping[str, str]]

    @classmethod
    def of_control(cls, control: "Control") -> "CatalogControl":
        return cls(
            control.id,
            control.title,
            control.objective,
            {ref.id: ref.verifies for ref in control.checks},
            [m.statement for m in control.manual],
            control.frameworks,
        )

    @classmethod
    def of_result(cls, control: ControlResult) -> "CatalogControl":
        return cls(
            control.id,
            control.title,
            control.objective,
            {check: control.requirements.get(check, "") for check in control.checks},
            control.manual,
            control.frameworks,
        )


def _catalog_control(control: CatalogControl) -> dict[str, Any]:
    smt = statement_id(control.id)
    items = [
        {"id": f"{smt}.{check}", "name": "item", "class": "automated", "title": check}
        | ({"prose": sentence} if sentence else {})
        for check, sentence in control.requirements.items()
    ] + [
        {"id": f"{smt}.manual-{number}", "name": "item", "class": "manual", "prose": statement}
        for number, statement in enumerate(control.manual, start=1)
    ]
    statement: dict[str, Any] = {"id": smt, "name": "statement"}
    if control.objective:
        statement["prose"] = control.objective
    if items:
        statement["parts"] = items
    return {
        "id": control.id,
        "title": control.title,
        **_crosswalk(control.frameworks),
        "parts": [statement],
    }


def catalog_document(controls: Sequence[CatalogControl], last_modified: str) -> dict[str, Any]:
    """The catalog: a group per id prefix (``SC``), a control per control. Its uuid and
    version come from its content: the same controls give the same catalog."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for control in controls:
        groups.setdefault(control.id.split(".")[0], []).append(_catalog_control(control))
    body = [
        {"id": prefix, "title": f"{prefix} controls", "controls": members}
        for prefix, members in groups.items()
    ]
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {
        "catalog": {
            "uuid": _lasting_uuid("catalog", digest),
            "metadata": _metadata(
                "policycheck controls: the organisation's backup and disaster-recovery controls",
                last_modified,
                digest[:12],
            ),
            "groups": body,
        }
    }


def write_catalog(report: Report, out: TextIO) -> None:
    """The catalog of the report's controls, as read at the start of its run."""
    document = catalog_document(
        [CatalogControl.of_result(c) for c in report.controls], report.run.started_at
    )
    out.write(json.dumps(document, indent=2) + "\n")


def _inventory_uuid(arn: str) -> str:
    return _lasting_uuid("inventory-item", arn)


def _activity_uuid(check_id: str) -> str:
    return _lasting_uuid("activity", check_id)


def _inventory(report: Report) -> Iterator[dict[str, Any]]:
    """Each resource of the results once, by ARN, in the order first seen."""
    seen: set[str] = set()
    for result in report.results:
        resource = result.resource
        if resource.arn in seen:
            continue
        seen.add(resource.arn)
        yield {
            "uuid": _inventory_uuid(resource.arn),
            "description": f"{resource.type} {resource.name} in account "
            f"{resource.account_id} ({resource.region})",
            "props": [
                {"name": "asset-id", "value": resource.arn},
                {"name": "resource-type", "ns": POLICYCHECK_NS, "value": resource.type},
            ],
        }


def _subjects(report: Report, check_id: str | None = None) -> Iterator[dict[str, str]]:
    """The inventory items the results (of one check) are on, each once."""
    seen: set[str] = set()
    for result in report.results:
        if (check_id is None or result.check_id == check_id) and result.resource.arn not in seen:
            seen.add(result.resource.arn)
            yield {"subject-uuid": _inventory_uuid(result.resource.arn), "type": "inventory-item"}


def _selection(control_ids: Sequence[str]) -> dict[str, Any]:
    return {"control-selections": [{"include-controls": [{"control-id": c} for c in control_ids]}]}


def _hashed_resource(resource_uuid: str, title: str, href: str, digest: str) -> dict[str, Any]:
    return {
        "uuid": resource_uuid,
        "title": title,
        "rlinks": [{"href": href, "hashes": [{"algorithm": "SHA-256", "value": digest}]}],
    }


class _Hashing(io.TextIOBase):
    """A text sink that keeps only the SHA-256 of what is written (UTF-8)."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        self.digest.update(text.encode())
        return len(text)


def _sha256_of(write: Callable[[Report, TextIO], None], report: Report) -> str:
    sink = _Hashing()
    write(report, cast(TextIO, sink))
    return sink.digest.hexdigest()


def _activity(check: str, control_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "uuid": _activity_uuid(check),
        "title": check,
        "description": f"Automated check {check} of the live configuration (or of a "
        f"Terraform plan): assesses {', '.join(control_ids)}.",
        "props": [{"name": "method", "value": "TEST"}],
        "related-controls": _selection(control_ids),
    }


def _task(report: Report, check: str, lists: Lists) -> dict[str, Any]:
    """The check run on the resources it has results on."""
    subjects = {"type": "inventory-item", "include-subjects": lists(_subjects(report, check))}
    return {
        "uuid": _uuid(report, "task", check),
        "type": "action",
        "title": f"Run {check}",
        "associated-activities": [{"activity-uuid": _activity_uuid(check), "subjects": [subjects]}],
    }


def _plan_back_matter(report: Report, system: str, catalog: str) -> dict[str, Any]:
    """The policy file (standing in for a system security plan) and the catalog."""
    policy_name = report.run.policy_file.rsplit("/", 1)[-1]
    return {
        "resources": [
            _hashed_resource(
                system,
                f"The system's description: {policy_name}",
                policy_name,
                report.run.policy_sha256,
            ),
            _hashed_resource(
                catalog, "The controls' catalog", CATALOG_FILE, _sha256_of(write_catalog, report)
            ),
        ]
    }


def write_plan(report: Report, out: TextIO) -> None:
    """The assessment plan: an activity per check (the controls it assesses), a task per
    check that ran (the resources it ran on), the resources as inventory items; the
    catalog and the policy file (standing in for a system security plan) by SHA-256."""
    lists = Lists()
    assessing: dict[str, list[str]] = {}
    for control in report.controls:
        for check in control.checks:
            assessing.setdefault(check, []).append(control.id)
    ran = [c for c in dict.fromkeys(r.check_id for r in report.results) if c in assessing]
    system, catalog = _uuid(report, "system"), _uuid(report, "catalog")
    plan: dict[str, Any] = {
        "uuid": _uuid(report, "assessment-plan"),
        "metadata": _metadata(
            "policycheck plan: which checks assess which control, on which resources",
            report.run.started_at,
            report.run.tool_version,
        ),
        "import-ssp": {
            "href": f"#{system}",
            "remarks": "No OSCAL system security plan exists for this system: the policy file "
            "(back matter) names its resources, which this plan defines as inventory items.",
        },
    }
    local: dict[str, Any] = {}
    if report.results:
        local["inventory-items"] = lists(_inventory(report))
    if assessing:
        local["activities"] = [_activity(c, ids) for c, ids in assessing.items()]
    if local:
        plan["local-definitions"] = local
    plan["reviewed-controls"] = _selection([c.id for c in report.controls]) | {
        "links": [{"href": f"#{catalog}", "rel": "reference", "text": "The controls' catalog"}]
    }
    if report.results:
        plan["assessment-subjects"] = [
            {"type": "inventory-item", "include-subjects": lists(_subjects(report))}
        ]
    if ran:
        plan["tasks"] = [_task(report, check, lists) for check in ran]
    plan["back-matter"] = _plan_back_matter(report, system, catalog)
    write_document(out, {"assessment-plan": plan}, lists)


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
                "subject-uuid": _inventory_uuid(result.resource.arn),
                "type": "inventory-item",
                "title": result.resource.arn,
            }
        ],
        "collected": (
            result.evidence.facts[0].fetched_at
            if result.evidence and result.evidence.facts
            else report.run.finished_at
        ),
    }
    facts = (
        f": facts {', '.join(f.name for f in result.evidence.facts)}, SHA-256 "
        f"{result.evidence.sha256}"
        if result.evidence
        else ""
    )
    observation["relevant-evidence"] = [
        {"href": f"#{_report_uuid(report)}", "description": f"This result in report.json{facts}."}
    ]
    return observation


def _finding(report: Report, control: ControlResult, lists: Lists) -> dict[str, Any]:
    """The control's finding; its observations are its checks' results (a control not
    assessed may have none: OSCAL lists are never empty)."""
    checks = set(control.checks)
    finding = {
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
            "type": "statement-id",
            "target-id": statement_id(control.id),
            "status": {"state": SATISFIED[control.status]},
        },
        **_crosswalk(control.frameworks),
    }
    if any(r.check_id in checks for r in report.results):
        finding["related-observations"] = lists(
            {"observation-uuid": _observation_uuid(report, r)}
            for r in report.results
            if r.check_id in checks
        )
    return finding


def _crosswalk(frameworks: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
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


def _report_uuid(report: Report) -> str:
    return _uuid(report, "report.json")


def _back_matter(report: Report, report_json: Callable[[Report, TextIO], None]) -> dict[str, Any]:
    """report.json (as ``report_json`` writes it), identified by the SHA-256 of its text."""
    return {
        "resources": [
            _hashed_resource(
                _report_uuid(report),
                "policycheck report.json",
                "report.json",
                _sha256_of(report_json, report),
            )
        ]
    }


def _checked(report: Report) -> str:
    """What was checked: Terraform plans before apply, or the live account."""
    if not report.run.sources:
        return "Live AWS configuration and DR drill evidence checked by "
    plans = ", ".join(f"{s.path}, SHA-256 {s.sha256}" for s in report.run.sources)
    return f"Terraform plans ({plans}) checked before apply by "


def write_results(
    report: Report, out: TextIO, report_json: Callable[[Report, TextIO], None]
) -> None:
    """OSCAL assessment results: an observation per result, a finding per assessed control,
    report.json (by the SHA-256 of the text ``report_json`` writes) as back matter.
    Written as the results are read (once for the observations, once per control for its
    findings' observations)."""
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
            "import-ap": {"href": PLAN_FILE},
            "results": [result],
            "back-matter": _back_matter(report, report_json),
        }
    }
    write_document(out, document, lists)
