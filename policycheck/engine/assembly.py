"""Assembling the report: the controls' statuses per environment, the run's metadata, the
summary. Pure: everything comes from the plan and the results."""

import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from policycheck.deadline import DeadlineReached
from policycheck.engine.aws import Connection
from policycheck.engine.locations import Reach, Unreachable, Where
from policycheck.engine.planning import Selection, why_no_result
from policycheck.policy.controls import Catalog, Control
from policycheck.policy.load import Policy
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


@dataclass(frozen=True)
class Audited:
    """What a run did: where it looked, what it was asked, what it found, and when."""

    policy: Policy
    catalog: Catalog
    selection: Selection
    #: Where it looked: each environment in each account and region (reached or not).
    environments: list[EnvironmentInfo]
    #: Selected environments it had nowhere to look at.
    gaps: list[Gap]
    started: datetime
    results: list[Result]
    waivers: list[WaiverReport]
    #: The deadline's label ("25m"); "" when none applies (a plan).
    deadline: str = ""
    occupied_shards: list[int] | None = None
    #: The plans judged, for a run on Terraform plans.
    sources: list[SourceInfo] = field(default_factory=list)


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
    reached = {e.name for e in audited.environments}
    controls = [
        _control(audited, control, environments, reached) for control in audited.catalog.controls
    ]
    return Report(
        run=_run_info(audited, environments, gaps),
        summary=summarize(controls, audited.results, gaps),
        controls=controls,
        results=audited.results,
        waivers=audited.waivers,
    )


def _control(
    audited: Audited, control: Control, environments: list[str], reached: set[str]
) -> ControlResult:
    catalog = audited.catalog
    return assess_control(
        control.id,
        control.title,
        control.check_ids,
        audited.results,
        [m.statement for m in control.manual],
        {
            environment: why_no_result(
                audited.policy, control, audited.selection, environment, environment in reached
            )
            for environment in environments
        },
        requirements={ref.id: ref.verifies for ref in control.checks},
        source_file=str(catalog.files[control.id].relative_to(catalog.directory.parent))
        if control.id in catalog.files
        else "",
        check_lines=catalog.lines.get(control.id, {}),
        objective=control.objective,
        frameworks=control.frameworks,
        framework_checks=control.framework_checks,
    )


def _run_info(audited: Audited, environments: list[str], gaps: list[Gap]) -> RunInfo:
    policy, selection = audited.policy, audited.selection
    return RunInfo(
        tool_version=__version__,
        started_at=audited.started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        policy_file=str(policy.path),
        policy_sha256=policy.sha256,
        git_commit=git_commit(policy.path.resolve().parent),
        policy_dir_in_repository=dir_in_repository(policy.path.resolve().parent),
        input_sha256={policy.path.name: policy.sha256, **audited.catalog.file_hashes()},
        environments=audited.environments,
        selected_checks=list(selection.checks) if selection.checks else None,
        selected_controls=list(selection.controls) if selection.controls else None,
        selected_environments=environments,
        policy_environments=list(policy.environments),
        shard=f"{selection.shard[0]}/{selection.shard[1]}" if selection.shard else None,
        occupied_shards=audited.occupied_shards,
        gaps=gaps,
        deadline=audited.deadline,
        deadline_reached=any(
            r.error is not None and r.error.code == DeadlineReached.code for r in audited.results
        ),
        sources=audited.sources,
    )


def where_of(location: Connection | Unreachable) -> Where:
    """Where a reached or unreachable location is."""
    if isinstance(location, Unreachable):
        return location.where
    return Where(location.environment, location.account_id, location.region)


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


def dir_in_repository(directory: Path) -> str | None:
    """``directory`` relative to the top level of its git checkout ("" at the top level);
    None outside a checkout (a policy shipped inside the installed package)."""
    top_level = _git(directory, "rev-parse", "--show-toplevel")
    if top_level is None:
        return None
    relative = directory.relative_to(Path(top_level).resolve())
    return "" if relative == Path(".") else relative.as_posix()


def git_commit(directory: Path) -> str | None:
    """The commit being audited: GITHUB_SHA in GitHub Actions, else the policy's checkout."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    return _git(directory, "rev-parse", "HEAD")


def _git(directory: Path, *arguments: str) -> str | None:
    """What a git command run in ``directory`` prints; None when it fails."""
    try:
        completed = subprocess.run(
            ["git", *arguments],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None
