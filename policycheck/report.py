"""The report model: what was checked, where, and what held. Rendered to JSON and Markdown."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from policycheck.registry import Severity

SCHEMA_VERSION = "1.0"

ResultStatus = Literal["pass", "fail", "error", "waived"]
ControlStatus = Literal["pass", "fail", "error", "waived", "manual", "not_assessed"]
CONTROL_STATUSES: tuple[ControlStatus, ...] = (
    "pass",
    "fail",
    "error",
    "waived",
    "manual",
    "not_assessed",
)
RESULT_STATUSES: tuple[ResultStatus, ...] = ("pass", "fail", "error", "waived")
SEVERITIES = ("critical", "high", "medium", "low")


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


class FactEvidence(ReportModel):
    """One fact a verdict rests on: what was called, when, and what it answered."""

    name: str
    actions: list[str]
    fetched_at: str
    value: Any = Field(description="The raw answer (excerpt) as collected.")


class Evidence(ReportModel):
    facts: list[FactEvidence]
    sha256: str = Field(description="SHA-256 of the canonical JSON of the facts.")


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


class Counts(ReportModel):
    pass_: int = Field(0, alias="pass")
    fail: int = 0
    error: int = 0
    waived: int = 0
    total: int = 0

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ControlResult(ReportModel):
    id: str
    title: str
    status: ControlStatus
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


class EnvironmentInfo(ReportModel):
    """One environment in one account and region, as the run reached it."""

    name: str
    account_id: str
    caller_arn: str
    region: str
    error: str | None = Field(
        None, description="Why the account could not be reached; its results are errors."
    )


class RunInfo(ReportModel):
    tool_version: str
    started_at: str
    finished_at: str
    policy_file: str
    policy_sha256: str
    git_commit: str | None = Field(None, description="GITHUB_SHA or git rev-parse HEAD.")
    input_sha256: dict[str, str] = Field(
        default_factory=dict, description="SHA-256 of the policy and every control file."
    )
    environments: list[EnvironmentInfo]
    selected_checks: list[str] | None = None
    selected_controls: list[str] | None = None


class Summary(ReportModel):
    status: ResultStatus
    results: Counts
    controls: dict[ControlStatus, int]


class Report(ReportModel):
    schema_version: Literal["1.0"] = SCHEMA_VERSION
    run: RunInfo
    summary: Summary
    controls: list[ControlResult]
    results: list[Result]
    waivers: list[WaiverReport] = Field(default_factory=list)


def count(results: list[Result]) -> Counts:
    """Results counted by status."""
    by_status = {status: sum(r.status == status for r in results) for status in RESULT_STATUSES}
    return Counts.model_validate({**by_status, "total": len(results)})


def worst_status(results: list[Result]) -> ResultStatus:
    """fail if any result failed, else error if any errored, else waived if any failure
    was waived, else pass."""
    statuses = {result.status for result in results}
    return next((s for s in ("fail", "error", "waived") if s in statuses), "pass")


def assess_control(
    control_id: str,
    title: str,
    check_ids: list[str],
    results: list[Result],
    manual: list[str] | None = None,
    **source: Any,
) -> ControlResult:
    """A control's status from its checks' results. Without any result it is manual when
    it has manual statements, else not_assessed; manual statements never count as pass."""
    own = [result for result in results if result.check_id in check_ids]
    ran = {result.check_id for result in own}
    status: ControlStatus = worst_status(own) if own else "manual" if manual else "not_assessed"
    return ControlResult(
        id=control_id,
        title=title,
        status=status,
        counts=count(own),
        checks=check_ids,
        checks_not_run=[check_id for check_id in check_ids if check_id not in ran],
        manual=manual or [],
        **source,
    )


def summarize(controls: list[ControlResult], results: list[Result]) -> Summary:
    """Overall counts by status, of results and of controls."""
    control_counts: dict[ControlStatus, int] = {
        status: sum(c.status == status for c in controls) for status in CONTROL_STATUSES
    }
    return Summary(status=worst_status(results), results=count(results), controls=control_counts)
