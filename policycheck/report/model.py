"""The report model: what was checked, where, and what held. Rendered to JSON and Markdown."""

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from policycheck.plugin.check import Severity

#: 1.1 adds per-environment control statuses, the selection, gaps and the deadline: a
#: 1.0 report cannot tell what it did not assess (see ``upgraded``). 1.2 stores each
#: distinct fact value once, in ``evidence_values`` under its SHA-256 (see FactEvidence).
SCHEMA_VERSION = "1.2"
LEGACY_SCHEMA_VERSION = "1.0"

#: A result's status. A Terraform plan adds two that judge nothing: ``not_assessed`` (the
#: check needs what a plan cannot show, such as the images in a repository) and
#: ``not_in_plan`` (the policy names the resource, but the plan neither has nor creates
#: it: a plan of one module shows only its part of the account).
ResultStatus = Literal["pass", "fail", "error", "waived", "not_assessed", "not_in_plan"]
#: A control's status. Beyond the results' statuses: ``manual`` (no check maps to it, only
#: statements an auditor verifies), ``not_assessed`` (selected and in scope, but nothing
#: produced a result: it keeps the run from passing; or a plan cannot judge it),
#: ``not_applicable`` (the policy binds its checks only to other environments, or to
#: resources it allows to be absent) and ``not_selected`` (outside
#: ``--checks``/``--controls``).
ControlStatus = Literal[
    "pass",
    "fail",
    "error",
    "waived",
    "manual",
    "not_assessed",
    "not_applicable",
    "not_selected",
    "not_in_plan",
]
#: The run's status: a run that left something selected unassessed is not a pass.
OverallStatus = Literal["pass", "fail", "error", "waived", "not_assessed"]
#: Strongest first: combining statuses (of environments, of shards) keeps the first present.
CONTROL_STATUSES: tuple[ControlStatus, ...] = (
    "fail",
    "error",
    "not_assessed",
    "waived",
    "pass",
    "not_in_plan",
    "not_applicable",
    "manual",
    "not_selected",
)
RESULT_STATUSES: tuple[ResultStatus, ...] = (
    "pass",
    "fail",
    "error",
    "waived",
    "not_assessed",
    "not_in_plan",
)
#: Results that judge nothing (only a plan makes them): they say what was not judged and
#: why, and never pass or gate by themselves.
UNJUDGED: tuple[ResultStatus, ...] = ("not_assessed", "not_in_plan")
#: A control's statuses that judged something: a framework requirement is evidenced by a
#: report only when a control mapped to it has one of them.
JUDGED: tuple[ControlStatus, ...] = ("pass", "fail", "error", "waived")
SEVERITIES = ("critical", "high", "medium", "low")
#: Results whose remediation applies: what failed, waived or not (a pass needs no fix; an
#: error's cause is in its AWS error).
REMEDIABLE: tuple[ResultStatus, ...] = ("fail", "waived")
#: What a reader is shown first, one line each: what failed, and what could not be judged.
FINDINGS: tuple[ResultStatus, ...] = ("fail", "error")


class ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResourceInfo(ReportModel):
    type: str
    name: str
    arn: str
    region: str
    account_id: str


class ErrorInfo(ReportModel):
    code: str = Field(description="AWS error code, e.g. AccessDenied.")
    message: str


class WaiverInfo(ReportModel):
    """The waiver applied to (or expired on) a result."""

    check: str
    environment: str
    resource: str
    justification: str
    owner: str
    ticket: str
    expires: str
    expired: bool


class WaiverReport(WaiverInfo):
    """A waiver of the policy and what it amounted to in this run."""

    state: Literal["active", "expiring", "expired", "stale"]
    matched: int = Field(description="Failing results it matched.")
    waived: int = Field(0, description="Results it waived (0 once expired).")


class FactEvidence(ReportModel):
    """One fact a verdict rests on: what was called, when, and what it answered: the value
    itself (schema 1.1), or its SHA-256, the value being in the report's
    ``evidence_values`` once however many results rest on it (1.2)."""

    name: str
    actions: list[str]
    fetched_at: str
    seconds: float | None = Field(
        None, description="How long the API call(s) took (none: not read from an API)."
    )
    value: Any = Field(None, description="The raw answer (excerpt) as collected (schema 1.1).")
    value_sha256: str | None = Field(
        None,
        description="SHA-256 of the value's canonical JSON (sorted keys, no spaces, UTF-8); "
        "the value is in evidence_values under it (schema 1.2).",
    )


def evidence_sha256(facts: Iterable[tuple[str, Any]]) -> str:
    """The SHA-256 of the facts a verdict rests on, as (name, value) pairs: identifies the
    configuration judged, not when it was read."""
    canonical = json.dumps([[name, value] for name, value in facts], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Evidence(ReportModel):
    facts: list[FactEvidence]
    sha256: str = Field(description="SHA-256 of the canonical JSON of the facts.")


#: What a Terraform plan does to a resource.
PlanAction = Literal["create", "update", "replace", "delete", "no-op", "read"]


class PlanChange(ReportModel):
    """What a Terraform plan does to the resource a result judges, and the verdict on the
    configuration before it: a result that passes today and would fail after the apply is
    what the plan breaks."""

    file: str = Field(description="The plan file (as given on the command line).")
    address: str = Field(description="The resource's address in the plan.")
    action: PlanAction
    changed: list[str] = Field(
        default_factory=list,
        description="Addresses the plan changes that the verdict rests on (the resource "
        "and its settings, e.g. an aws_s3_bucket_versioning), with their action.",
    )
    before_status: ResultStatus | None = Field(
        None,
        description="The verdict on the configuration before the plan; none: it does "
        "not exist before (created by the plan).",
    )
    before_message: str = ""


class Result(ReportModel):
    """One check applied to one resource in one environment."""

    check_id: str
    title: str
    control_ids: list[str]
    environment: str
    resource: ResourceInfo
    status: ResultStatus
    severity: Severity
    message: str = Field(description="What was observed against what was expected.")
    expected: Any
    observed: Any = Field(description="The configuration excerpt the verdict rests on.")
    remediation: str
    error: ErrorInfo | None = None
    waiver: WaiverInfo | None = None
    evidence: Evidence | None = None
    plan: PlanChange | None = Field(
        None, description="Judged on a Terraform plan: what the plan does to the resource."
    )


class Counts(ReportModel):
    pass_: int = Field(0, alias="pass")
    fail: int = 0
    error: int = 0
    waived: int = 0
    not_assessed: int = Field(0, description="Results a plan cannot judge.")
    not_in_plan: int = Field(0, description="Resources the policy names that a plan lacks.")
    total: int = 0

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ControlInEnvironment(ReportModel):
    """A control's status in one environment; why, when it has no result there."""

    status: ControlStatus
    reason: str = ""


class ControlResult(ReportModel):
    id: str
    title: str
    status: ControlStatus
    reason: str = Field(
        "",
        description="Why the control has no result: not assessed, not applicable or not selected.",
    )
    environments: dict[str, ControlInEnvironment] = Field(
        default_factory=dict, description="The control's status in each selected environment."
    )
    counts: Counts
    checks: list[str] = Field(description="Check ids the catalog maps to this control.")
    requirements: dict[str, str] = Field(
        default_factory=dict, description="Per check id, the policy sentence it verifies."
    )
    source_file: str = Field("", description="The control file, relative to the policy.")
    check_lines: dict[str, int] = Field(
        default_factory=dict, description="Per check id, the control file line listing it."
    )
    checks_not_run: list[str] = Field(
        description="Mapped checks with no result in this run (not bound, or filtered out)."
    )
    manual: list[str] = Field(
        default_factory=list,
        description="Statements not verified automatically: an auditor checks them by hand.",
    )
    objective: str = Field("", description="The control's objective in the policy's words.")
    frameworks: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="The crosswalk: per framework id (NIST-800-53, ISO-27001, SOC2, CIS-AWS), "
        "the requirement ids this control evidences and why.",
    )
    framework_checks: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="Per framework id and requirement id, the checks whose results alone "
        "give the requirement's status (none in reports of older versions: the control's).",
    )


#: What a control result carries from its control file, beside its status.
CATALOG_FIELDS = (
    "requirements",
    "source_file",
    "check_lines",
    "objective",
    "frameworks",
    "framework_checks",
)


def catalog_fields(control: ControlResult) -> dict[str, Any]:
    """What a control result took from its control file, to carry into a re-derived one."""
    return {name: getattr(control, name) for name in CATALOG_FIELDS}


class EnvironmentInfo(ReportModel):
    """One environment in one account and region, as the run reached it."""

    name: str
    account_id: str
    caller_arn: str
    region: str
    error: str | None = Field(
        None, description="Why the account could not be reached; its results are errors."
    )


class Gap(ReportModel):
    """Part of the selection the run could not cover (an environment with no account to
    audit, a shard missing from a merge): its controls are not assessed."""

    environment: str = Field(description="The environment, or * for the whole run.")
    reason: str


class SourceInfo(ReportModel):
    """Where a run's facts came from when not from live AWS: one Terraform plan file."""

    kind: Literal["terraform plan"] = "terraform plan"
    path: str
    sha256: str
    terraform_version: str
    format_version: str


class RunInfo(ReportModel):
    tool_version: str
    started_at: str
    finished_at: str
    policy_file: str
    policy_sha256: str
    git_commit: str | None = Field(None, description="GITHUB_SHA or git rev-parse HEAD.")
    policy_dir_in_repository: str | None = Field(
        None,
        description="The policy's folder relative to the top level of its git checkout "
        "(empty at the top level); none outside a git checkout. Code scanning resolves "
        "locations from the repository root.",
    )
    input_sha256: dict[str, str] = Field(
        default_factory=dict, description="SHA-256 of the policy and every control file."
    )
    environments: list[EnvironmentInfo]
    selected_checks: list[str] | None = None
    selected_controls: list[str] | None = None
    selected_environments: list[str] | None = Field(
        None, description="The environments the run was asked to assess."
    )
    policy_environments: list[str] | None = Field(
        None, description="Every environment of the policy (what a merge must cover)."
    )
    shard: str | None = Field(None, description="I/N when the run was one shard of N.")
    occupied_shards: list[int] | None = Field(
        None, description="With a shard: the shards of the N that have work (a merge expects them)."
    )
    gaps: list[Gap] = Field(
        default_factory=list, description="What the run could not cover; never a pass."
    )
    deadline: str = Field("", description="The run's deadline (e.g. 25m).")
    deadline_reached: bool = Field(
        False, description="The deadline cut the run short: facts not read are errors."
    )
    sources: list[SourceInfo] = Field(
        default_factory=list,
        description="Judged on Terraform plans (`policycheck plan`), not live AWS: each file.",
    )
    simulated: bool = Field(
        False,
        description="Made by `policycheck demo` against a simulated account (moto on "
        "loopback), not AWS: evidence of nothing live.",
    )


class Summary(ReportModel):
    status: OverallStatus
    results: Counts
    controls: dict[ControlStatus, int]


class Report(ReportModel):
    schema_version: Literal["1.0", "1.1", "1.2"] = "1.2"
    run: RunInfo
    summary: Summary
    controls: list[ControlResult]
    #: A list, or a large run's results read back one at a time from disk (spool.ResultLog).
    results: Sequence[Result]
    waivers: list[WaiverReport] = Field(default_factory=list)
    evidence_values: Mapping[str, Any] = Field(
        default_factory=dict,
        description="Each distinct fact value once, under its SHA-256 (the facts' value_sha256).",
    )


def result_key(result: Result) -> tuple[str, str, str]:
    """What makes two results, of two runs, the same: environment, check and resource."""
    return (result.environment, result.check_id, result.resource.arn)


def result_order(result: Result) -> tuple[str, ...]:
    """Results sort by environment, account, region, check and resource: two runs over
    the same state differ only in timestamps (a live run's spool sorts by the same
    fields, see subjects)."""
    where = result.resource
    return (result.environment, where.account_id, where.region, result.check_id, where.name)


def count(results: Sequence[Result]) -> Counts:
    """Results counted by status."""
    by_status = {status: sum(r.status == status for r in results) for status in RESULT_STATUSES}
    return Counts.model_validate({**by_status, "total": len(results)})


#: What a set of results amounts to: the first of these present.
RESULT_PRECEDENCE: tuple[ResultStatus, ...] = (
    "fail",
    "error",
    "waived",
    "pass",
    "not_assessed",
    "not_in_plan",
)


def worst_status(results: Sequence[Result]) -> ResultStatus:
    """fail if any result failed, else error if any errored, else waived if any failure
    was waived, else pass if any passed; results that judge nothing count only when there
    is nothing else (not_assessed, then not_in_plan)."""
    statuses = {result.status for result in results}
    return next((s for s in RESULT_PRECEDENCE if s in statuses), "pass")


def unassessed(controls: list[ControlResult], results: Iterable[Result]) -> list[tuple[str, str]]:
    """(control id, environment; "" when the report has no per-environment statuses) for
    each control selected but not assessed that no result explains: a gap in what the run
    covered. A plan's not_assessed results say themselves why they judge nothing (the
    results are read only when some control was not assessed)."""
    candidates = []
    for control in controls:
        if control.environments:
            candidates += [
                (control.id, name)
                for name, there in control.environments.items()
                if there.status == "not_assessed"
            ]
        elif control.status == "not_assessed":
            candidates.append((control.id, ""))
    if not candidates:
        return []
    explained = {(c, r.environment) for r in results if r.status in UNJUDGED for c in r.control_ids}
    explained_anywhere = {c for c, _ in explained}
    return [
        (control_id, name)
        for control_id, name in candidates
        if (control_id, name) not in explained and (name or control_id not in explained_anywhere)
    ]


def has_unjudged(report: Report) -> bool:
    """Whether any result judges nothing (not in the plan, not judgeable from a plan):
    told by the counts, without reading the results."""
    counts = report.summary.results
    return bool(counts.not_in_plan or counts.not_assessed)


def strongest(statuses: Iterable[ControlStatus]) -> ControlStatus:
    """The status that dominates (see CONTROL_STATUSES); not_assessed for none at all."""
    present = set(statuses)
    return next((s for s in CONTROL_STATUSES if s in present), "not_assessed")


def assess_control(
    control_id: str,
    title: str,
    check_ids: list[str],
    results: Sequence[Result],
    manual: list[str] | None = None,
    environments: Mapping[str, ControlInEnvironment] | None = None,
    **source: Any,
) -> ControlResult:
    """A control's status from its checks' results, per environment and overall.

    ``environments`` gives, for every selected environment, what the control is there if
    it has no result in it (planning.why_no_results decides). Without it (reports of older
    versions) the status comes from the results alone: without any result a control is
    manual when it has manual statements only, else not_assessed. Manual statements never
    count as a pass."""
    own = [result for result in results if result.check_id in check_ids]
    per_environment: dict[str, ControlInEnvironment] = {}
    for environment, otherwise in (environments or {}).items():
        there = [result for result in own if result.environment == environment]
        per_environment[environment] = (
            ControlInEnvironment(status=worst_status(there)) if there else otherwise
        )
    return control_result(control_id, title, check_ids, own, per_environment, manual, **source)


def control_result(
    control_id: str,
    title: str,
    check_ids: list[str],
    own: list[Result],
    per_environment: dict[str, ControlInEnvironment],
    manual: list[str] | None = None,
    **source: Any,
) -> ControlResult:
    """A control from its own results and its status in each environment."""
    ran = {result.check_id for result in own}
    if per_environment:
        # A plan's results that judge nothing count through the environments' statuses.
        judged = [r.status for r in own if r.status not in UNJUDGED]
        status = strongest([*(e.status for e in per_environment.values()), *judged])
    elif own:
        status = worst_status(own)
    else:
        status = "manual" if manual and not check_ids else "not_assessed"
    reason = next(
        (
            f"{name}: {there.reason}"
            for name, there in per_environment.items()
            if there.status == status and there.reason
        ),
        "",
    )
    return ControlResult(
        id=control_id,
        title=title,
        status=status,
        reason=reason,
        environments=per_environment,
        counts=count(own),
        checks=check_ids,
        checks_not_run=[check_id for check_id in check_ids if check_id not in ran],
        manual=manual or [],
        **source,
    )


def overall_status(
    controls: list[ControlResult], results: Sequence[Result], gaps: list[Gap]
) -> OverallStatus:
    """fail, else error, else not_assessed (a control or environment selected but not
    assessed, or no result that judged anything), else waived, else pass."""
    worst = worst_status(results)
    if worst in ("fail", "error"):
        return worst
    if gaps or unassessed(controls, results) or worst in UNJUDGED:
        return "not_assessed"
    return "waived" if worst == "waived" else "pass"


def summarize(
    controls: list[ControlResult], results: Sequence[Result], gaps: list[Gap] | None = None
) -> Summary:
    """Overall status and counts by status, of results and of controls."""
    control_counts: dict[ControlStatus, int] = {
        status: sum(c.status == status for c in controls) for status in CONTROL_STATUSES
    }
    return Summary(
        status=overall_status(controls, results, gaps or []),
        results=count(results),
        controls=control_counts,
    )


def upgraded(report: Report) -> Report:
    """A report as this version would state it. A report of schema 1.0 (an older
    policycheck) does not record its selection or what it left unassessed: its controls are
    re-derived from its results and it carries a gap, so that neither render nor merge can
    turn it into a PASS it never earned."""
    if report.schema_version != LEGACY_SCHEMA_VERSION:
        return report
    gaps = [
        *report.run.gaps,
        Gap(
            environment="*",
            reason="report of an older policycheck (schema 1.0): what it did not assess is unknown",
        ),
    ]
    controls = [
        assess_control(
            c.id,
            c.title,
            c.checks,
            report.results,
            c.manual,
            **catalog_fields(c),
        )
        for c in report.controls
    ]
    return report.model_copy(
        update={
            "schema_version": SCHEMA_VERSION,
            "run": report.run.model_copy(update={"gaps": gaps}),
            "controls": controls,
            "summary": summarize(controls, report.results, gaps),
        }
    )


def live_evidence_problem(report: Report) -> str:
    """Why the report is no evidence of the live accounts' state ("" when it is): judged on
    a Terraform plan, or made against the demo's simulated account."""
    if report.run.sources:
        return "judged on a Terraform plan, not the live accounts"
    if report.run.simulated:
        return "made by the demo against a simulated account"
    return ""


def report_environments(report: Report) -> list[str]:
    """The environments a report covers or was asked to cover, in order."""
    return list(
        dict.fromkeys(
            [
                *(report.run.selected_environments or []),
                *(e.name for e in report.run.environments),
                *(g.environment for g in report.run.gaps),
            ]
        )
    )


def control_status_in(report: Report, control: ControlResult, environment: str) -> ControlStatus:
    """A control's status in one environment, as the run assessed it; for reports that do
    not record it, from the environment's results only."""
    there = control.environments.get(environment)
    if there is not None:
        return there.status
    own = [r for r in report.results if r.environment == environment]
    return assess_control(control.id, control.title, control.checks, own, control.manual).status
