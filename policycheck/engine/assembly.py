"""Assembling the report: the controls' statuses per environment, the run's metadata, the
summary. Pure: everything it states is handed in (planning's word on controls without a
result, the results and what they amount to, the times, the policy's git checkout, the
inputs' hashes); it reads no clock, file or process."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from policycheck.deadline import DeadlineReached
from policycheck.engine.aws import Connection
from policycheck.engine.locations import Reach, Unreachable, where_of
from policycheck.engine.planning import NoResults, Scope
from policycheck.git import Checkout
from policycheck.policy.controls import Control
from policycheck.report.model import (
    ControlResult,
    EnvironmentInfo,
    Gap,
    Report,
    Result,
    RunInfo,
    SourceInfo,
    WaiverReport,
    assess_control,
    summarize,
)
from policycheck.version import __version__


@dataclass(frozen=True, kw_only=True)
class Audited:
    """What a run did: where it looked, what it was asked, what it found, and when."""

    #: What it planned over (the policy, its controls, the selection).
    scope: Scope
    #: Where the policy file is in git (the commit audited).
    checkout: Checkout
    #: SHA-256 of the policy file and every control file (Scope.input_sha256).
    input_sha256: dict[str, str]
    #: Where it looked: each environment in each account and region (reached or not).
    environments: list[EnvironmentInfo]
    #: Selected environments it had nowhere to look at.
    gaps: list[Gap]
    #: What each control is in each selected environment where it has no result
    #: (planning.why_no_results).
    no_results: NoResults
    started: datetime
    finished: datetime
    #: The results as the report holds them: a list, or a large run's on disk.
    results: Sequence[Result]
    #: The results as controls and the summary are assessed on (a large run's tally's
    #: stand-in, see Tally.stand_in); None: ``results`` themselves.
    counted: Sequence[Result] | None = None
    #: Each distinct fact value once, under its SHA-256.
    values: Mapping[str, Any] = field(default_factory=dict)
    waivers: list[WaiverReport]
    #: The deadline's label ("25m"); "" when none applies (a plan).
    deadline: str = ""
    occupied_shards: list[int] | None = None
    #: The plans judged, for a run on Terraform plans.
    sources: list[SourceInfo] = field(default_factory=list)
    #: Made against the demo's simulated account.
    simulated: bool = False


def audited_reach(reach: Reach) -> tuple[list[EnvironmentInfo], list[Gap]]:
    """Where a live run looked, and the selected environments it could not look at."""
    gaps = [Gap(environment=u.environment, reason=u.reason) for u in reach.uncovered]
    return [environment_info(c) for c in reach.locations], gaps


def assemble(audited: Audited) -> Report:
    """The report of a run."""
    gaps = audited.gaps
    environments = list(
        dict.fromkeys([*(e.name for e in audited.environments)] + [g.environment for g in gaps])
    )
    counted = audited.results if audited.counted is None else audited.counted
    controls = [
        _control(audited, control, environments, counted)
        for control in audited.scope.catalog.controls
    ]
    # Its parts are validated models already: validating the report again would read a
    # large run's results (on disk, see spool.ResultLog) back into memory.
    return Report.model_construct(
        run=_run_info(audited, environments, counted),
        summary=summarize(controls, counted, gaps),
        controls=controls,
        results=audited.results,
        waivers=audited.waivers,
        evidence_values=audited.values,
    )


def _control(
    audited: Audited, control: Control, environments: list[str], counted: Sequence[Result]
) -> ControlResult:
    catalog = audited.scope.catalog
    no_result = audited.no_results[control.id]
    return assess_control(
        control.id,
        control.title,
        control.check_ids,
        counted,
        manual=[m.statement for m in control.manual],
        environments={environment: no_result[environment] for environment in environments},
        requirements={ref.id: ref.verifies for ref in control.checks},
        source_file=str(catalog.files[control.id].relative_to(catalog.directory.parent))
        if control.id in catalog.files
        else "",
        check_lines=catalog.lines.get(control.id, {}),
        objective=control.objective,
        frameworks=control.frameworks,
        framework_checks=control.framework_checks,
    )


def _run_info(audited: Audited, environments: list[str], counted: Sequence[Result]) -> RunInfo:
    policy, selection = audited.scope.policy, audited.scope.selection
    return RunInfo(
        tool_version=__version__,
        started_at=audited.started.isoformat(timespec="seconds"),
        finished_at=audited.finished.isoformat(timespec="seconds"),
        policy_file=str(policy.path),
        policy_sha256=policy.sha256,
        git_commit=audited.checkout.commit,
        policy_dir_in_repository=audited.checkout.directory,
        input_sha256=audited.input_sha256,
        environments=audited.environments,
        selected_checks=list(selection.checks) if selection.checks else None,
        selected_controls=list(selection.controls) if selection.controls else None,
        selected_environments=environments,
        policy_environments=list(policy.environments),
        shard=f"{selection.shard[0]}/{selection.shard[1]}" if selection.shard else None,
        occupied_shards=audited.occupied_shards,
        gaps=audited.gaps,
        deadline=audited.deadline,
        deadline_reached=any(
            r.error is not None and r.error.code == DeadlineReached.code for r in counted
        ),
        sources=audited.sources,
        simulated=audited.simulated,
    )


def environment_info(location: Connection | Unreachable) -> EnvironmentInfo:
    """A location as the report states it: who the run was there, or why it was not."""
    where = where_of(location)
    if isinstance(location, Unreachable):
        return EnvironmentInfo(
            name=where.environment,
            account_id=where.account_id,
            caller_arn="",
            region=where.region,
            error=f"{location.role_arn}: {location.failure}",
        )
    return EnvironmentInfo(
        name=where.environment,
        account_id=where.account_id,
        caller_arn=location.caller_arn,
        region=where.region,
    )
