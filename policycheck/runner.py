"""Run an audit: plan which checks apply where, collect the facts they need, evaluate,
and assemble the report. Usable as a library; the CLI is a thin layer over it."""

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from policycheck import __version__
from policycheck.aws import Connection, SessionFactory, default_session
from policycheck.collect import FactKey, FactRequest, ProgressCallback, ServiceCaps, fact_key
from policycheck.collectors.drills import EVIDENCE
from policycheck.controls import Catalog, Control
from policycheck.deadline import Deadline, DeadlineReached
from policycheck.discovery import LIST_ACTIONS, Discovery, DiscoveryFailed, is_pattern
from policycheck.errors import InputError
from policycheck.evidence import EvidenceStore
from policycheck.facts import FactOutcome, all_facts
from policycheck.locations import Unreachable, Where, open_locations, static_locations
from policycheck.policy import Binding, Policy, ResourceInstance
from policycheck.pool import concurrently
from policycheck.processes import collect_spread, default_processes
from policycheck.registry import NOW, RESOURCE, all_checks
from policycheck.report import (
    ControlInEnvironment,
    EnvironmentInfo,
    ErrorInfo,
    Evidence,
    FactEvidence,
    Gap,
    Report,
    ResourceInfo,
    Result,
    RunInfo,
    assess_control,
    summarize,
)
from policycheck.resources import RESOURCE_TYPES, ResourceRef
from policycheck.waivers import apply_waivers


@dataclass(frozen=True)
class Selection:
    """What to run: None means everything."""

    environments: tuple[str, ...]
    checks: tuple[str, ...] | None = None
    controls: tuple[str, ...] | None = None
    #: (i, n): only the environments and accounts of shard i of n.
    shard: tuple[int, int] | None = None


@dataclass(frozen=True)
class RunOptions:
    endpoint_url: str | None = None
    max_workers: int = 16
    #: In-flight calls per service in one account and region (``"*"``: every service).
    service_caps: ServiceCaps | None = None
    #: Audit every account of the AWS Organization through this role (``run --org``).
    org_role: str | None = None
    #: Processes that fetch facts (None: by the run's size and the cores, see processes).
    processes: int | None = None
    session_factory: SessionFactory = default_session
    progress: ProgressCallback | None = None
    #: Seconds from the start after which no AWS call starts; None: the policy's
    #: ``run.deadline``.
    deadline_seconds: float | None = None
    #: The clock assumed-role credentials judge their expiry by (tests move it).
    credentials_clock: Callable[[], datetime] | None = None


class Unassessable(Exception):
    """Why a resource group cannot be judged in a location: its listing failed or its
    account is unreachable. Its targets become errors carrying the AWS code."""

    status = "error"

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class NothingMatches(Exception):
    """A name pattern matched no resource where the policy does not allow that: every
    check bound to it fails, as for a named resource that does not exist."""

    status = "fail"

    def __init__(self, pattern: str, group: str, list_action: str) -> None:
        super().__init__(pattern)
        self.pattern, self.group, self.list_action = pattern, group, list_action


@dataclass(frozen=True)
class Target:
    """One result to produce: a bound check on one resource in one location."""

    binding: Binding
    where: Where
    resource: ResourceInstance
    #: Set when the resource cannot be judged at all (see Unassessable, NothingMatches).
    failure: Unassessable | NothingMatches | None = None

    @property
    def environment(self) -> str:
        return self.where.environment

    @property
    def resource_name(self) -> str:
        return self.resource.name


def select(
    policy: Policy,
    catalog: Catalog,
    environments: Sequence[str] = (),
    checks: Sequence[str] = (),
    controls: Sequence[str] = (),
    shard: tuple[int, int] | None = None,
) -> Selection:
    """Validate the user's filters against the policy and catalog."""
    known_envs = list(policy.environments)
    _reject_unknown("--env", environments, known_envs, "environments")
    bound = list(dict.fromkeys(binding.check.id for binding in policy.bindings))
    unbound = [c for c in checks if c in all_checks() and c not in bound]
    if unbound:
        raise InputError(
            f"--checks: {unbound[0]!r} is not bound in {policy.path.name}; add it under "
            f"checks: with the resources it applies to (bound: {', '.join(bound)})"
        )
    _reject_unknown("--checks", checks, bound, "checks bound in the policy")
    _reject_unknown("--controls", controls, [c.id for c in catalog.controls], "controls")
    return Selection(
        environments=tuple(environments) or tuple(known_envs),
        checks=tuple(checks) or None,
        controls=tuple(controls) or None,
        shard=shard,
    )


def _reject_unknown(option: str, given: Sequence[str], known: list[str], what: str) -> None:
    unknown = [item for item in given if item not in known]
    if unknown:
        raise InputError(f"{option}: unknown {unknown[0]!r}; {what}: {', '.join(known)}")


#: (group, location) -> the group's resources there; may raise Unassessable. A name
#: pattern that matched nothing comes back unchanged (still a pattern).
Resolver = Callable[[str, Where], list[ResourceInstance]]


def written_resources(policy: Policy, group: str, where: Where) -> list[ResourceInstance]:
    """A group's resources in one location, named as the policy writes them."""
    return [r for r in policy.resources_in(group, where.environment) if r.region == where.region]


def plan(
    policy: Policy,
    catalog: Catalog,
    selection: Selection,
    locations: Sequence[Where] | None = None,
    resolve: Resolver | None = None,
) -> list[Target]:
    """Every (check, resource, location) the selection asks for, in a stable order.
    ``locations`` default to the policy's as configured; ``resolve`` expands resource
    groups (default: the names as written)."""
    if locations is None:
        locations = static_locations(policy, selection.environments)
    resolve = resolve or partial(written_resources, policy)
    wanted_by_control: set[str] | None = None
    if selection.controls is not None:
        wanted_by_control = {
            check_id
            for control in catalog.controls
            if control.id in selection.controls
            for check_id in control.check_ids
        }
    targets = []
    for where in locations:
        for binding in policy.bindings:
            check_id = binding.check.id
            if selection.checks is not None and check_id not in selection.checks:
                continue
            if wanted_by_control is not None and check_id not in wanted_by_control:
                continue
            if not binding.applies_in(where.environment):
                continue
            for group in binding.resource_groups:
                try:
                    instances = resolve(group, where)
                except Unassessable as failure:
                    written = written_resources(policy, group, where)
                    targets += [Target(binding, where, i, failure) for i in written]
                    continue
                targets += _targets(policy, binding, where, group, instances)
    return targets


def _targets(
    policy: Policy, binding: Binding, where: Where, group: str, instances: list[ResourceInstance]
) -> list[Target]:
    """A bound group's targets; a pattern that matched nothing fails unless allowed."""
    resource = policy.document.resources[group]
    targets = []
    for instance in instances:
        if not is_pattern(instance.name):
            targets.append(Target(binding, where, instance))
        elif not resource.allow_empty:
            failure = NothingMatches(instance.name, group, LIST_ACTIONS[resource.type])
            targets.append(Target(binding, where, instance, failure))
    return targets


def why_no_result(
    policy: Policy, control: Control, selection: Selection, environment: str, reached: bool
) -> ControlInEnvironment:
    """What a control is in an environment where it has no result, and why: outside the
    selection (not_selected), manual only, bound only elsewhere (not_applicable), or
    selected and bound but not assessed."""
    if selection.controls is not None and control.id not in selection.controls:
        return ControlInEnvironment(status="not_selected", reason="not in --controls")
    if not control.check_ids:
        return ControlInEnvironment(status="manual", reason="no check maps to it; verified by hand")
    wanted = [c for c in control.check_ids if selection.checks is None or c in selection.checks]
    if not wanted:
        return ControlInEnvironment(
            status="not_selected", reason="none of its checks is in --checks"
        )
    bindings = [b for b in policy.bindings if b.check.id in wanted]
    if not bindings:
        return ControlInEnvironment(
            status="not_assessed",
            reason=f"none of its checks ({', '.join(wanted)}) is bound in the policy",
        )
    if not any(b.applies_in(environment) for b in bindings):
        elsewhere = sorted({e for b in bindings for e in b.environments or ()})
        return ControlInEnvironment(
            status="not_applicable",
            reason=f"the policy binds its checks only in {', '.join(elsewhere)}",
        )
    if not reached:
        return ControlInEnvironment(status="not_assessed", reason="the environment was not audited")
    return ControlInEnvironment(
        status="not_applicable",
        reason="no resource in scope here: its groups are limited to other regions, or their "
        "name patterns matched nothing (allow_empty)",
    )


def nothing_to_assess(
    policy: Policy, catalog: Catalog, selection: Selection, gaps: Sequence[Gap] = ()
) -> str:
    """One line saying why a selection yields no result at all."""
    reasons = [f"{gap.environment}: {gap.reason}" for gap in gaps]
    for environment in selection.environments:
        for control in catalog.controls:
            why = why_no_result(policy, control, selection, environment, reached=True)
            if why.status != "not_selected" and why.status != "manual":
                reasons.append(f"{control.id} in {environment}: {why.reason}")
    if not reasons:
        reasons.append("no control with a bound check is selected")
    return "nothing to assess: " + "; ".join(dict.fromkeys(reasons))


def fact_requests(targets: list[Target]) -> dict[FactKey, FactRequest]:
    """The distinct facts the targets need: each once per subject, however many checks
    and environments share it."""
    facts = all_facts()
    requests: dict[FactKey, FactRequest] = {}
    for target in targets:
        if target.failure:
            continue
        resource, where = target.resource, target.where
        for name in target.binding.check.facts:
            spec = facts[name]
            key = fact_key(where.account_id, where.region, spec, resource.name, resource.parent)
            requests[key] = FactRequest(spec, resource.name, resource.parent)
    return requests


def evaluate(
    target: Target,
    outcomes: dict[FactKey, FactOutcome],
    catalog: Catalog,
    now: datetime,
) -> Result:
    """Judge one target from collected facts. Missing resource: fail; unreadable fact: error."""
    spec = target.binding.check
    region, account_id = target.where.region, target.where.account_id
    facts = all_facts()
    ref = ResourceRef(
        spec.resource_type,
        target.resource.name,
        region,
        account_id,
        target.resource.parent,
        target.resource.variables,
    )
    resource = ResourceInfo(
        type=ref.type, name=ref.name, arn=ref.arn, region=ref.region, account_id=ref.account_id
    )
    common: dict[str, Any] = {
        "check_id": spec.id,
        "title": spec.title,
        "control_ids": catalog.control_ids_for(spec.id),
        "environment": target.environment,
        "resource": resource,
        "severity": spec.severity,
        "remediation": spec.remediation.format(name=ref.name),
    }
    if isinstance(target.failure, NothingMatches):
        unmatched = target.failure
        where = f"account {account_id}, {region}" if account_id else region
        return Result(
            **common,
            status="fail",
            message=f"no {RESOURCE_TYPES[spec.resource_type].label} matches "
            f"{unmatched.pattern!r} in {where} (listed with {unmatched.list_action}); expected "
            f"at least one (set allow_empty: true on resources.{unmatched.group} if none is "
            "acceptable)",
            expected={"matching_resources": ">= 1"},
            observed={"matching_resources": 0, "pattern": unmatched.pattern},
        )
    if target.failure:
        failure = target.failure
        return Result(
            **common,
            status="error",
            message=f"{ref.name}: {failure.reason}",
            expected=None,
            observed=None,
            error=ErrorInfo(code=failure.code, message=failure.reason),
        )
    needed = [
        outcomes[fact_key(account_id, region, facts[name], ref.name, ref.parent)]
        for name in spec.facts
    ]
    common["evidence"] = evidence_of(needed)
    if any(outcome.resource_missing for outcome in needed):
        return Result(
            **common,
            status="fail",
            message=f"{ref.label} does not exist; expected it to exist",
            expected={"exists": True},
            observed={"exists": False},
        )
    failed = [(outcome.spec.action, outcome.error) for outcome in needed if outcome.error]
    if failed:
        return Result(
            **common,
            status="error",
            message="; ".join(
                f"could not read {action}: {error.code}: {error.message}"
                for action, error in failed
            ),
            expected=None,
            observed=None,
            error=ErrorInfo(code=failed[0][1].code, message=failed[0][1].message),
        )
    values = {outcome.spec.name: outcome.value for outcome in needed}
    values[RESOURCE] = {
        "name": ref.name,
        "arn": ref.arn,
        "region": ref.region,
        "account_id": ref.account_id,
        "parent": ref.parent,
        "environment": target.environment,
        "variables": ref.variables,
    }
    values[NOW] = now.isoformat()
    try:
        verdict = spec.evaluate(values, target.binding.params)
    except Exception as exc:  # fail closed: a check that cannot judge is an error, never a pass
        return Result(
            **common,
            status="error",
            message=f"check could not evaluate: {exc!r}",
            expected=None,
            observed=None,
            error=ErrorInfo(code=type(exc).__name__, message=str(exc)),
        )
    return Result(
        **common,
        status="pass" if verdict.passed else "fail",
        message=verdict.message,
        expected=verdict.expected,
        observed=verdict.observed,
    )


def evidence_of(outcomes: list[FactOutcome]) -> Evidence:
    """The facts a verdict rests on, with their API actions, times and a hash."""
    facts = [
        FactEvidence(
            name=o.spec.name, actions=list(o.spec.actions), fetched_at=o.fetched_at, value=o.value
        )
        for o in outcomes
    ]
    # The hash identifies the configuration judged, not when it was read.
    canonical = json.dumps([[f.name, f.value] for f in facts], sort_keys=True, default=str)
    return Evidence(facts=facts, sha256=hashlib.sha256(canonical.encode()).hexdigest())


def git_commit(directory: Path) -> str | None:
    """The commit being audited: GITHUB_SHA in GitHub Actions, else the policy's checkout."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() or None if completed.returncode == 0 else None


def _discover_concurrently(policy: Policy, locations: Sequence[Where], resolve: Resolver) -> None:
    """Warm the discovery listings in parallel (each is then read from its cache)."""
    work = [
        (group, where)
        for where in locations
        for group in dict.fromkeys(
            group
            for binding in policy.bindings
            if binding.applies_in(where.environment)
            for group in binding.resource_groups
            if policy.is_discovered(group, where.environment)
        )
    ]

    def warm(item: tuple[str, Where]) -> None:
        with suppress(Unassessable):
            resolve(*item)

    concurrently(warm, work, 8)


def locate(connection: Connection | Unreachable) -> Where:
    """Where a reached or unreachable location is."""
    if isinstance(connection, Unreachable):
        return connection.where
    return Where(connection.environment, connection.account_id, connection.region)


def run_audit(
    policy: Policy, catalog: Catalog, selection: Selection, options: RunOptions | None = None
) -> Report:
    """Reach each selected location, collect facts once, evaluate every target."""
    options = options or RunOptions()
    if not plan(policy, catalog, selection):  # nothing bound where selected: say so first
        raise InputError(nothing_to_assess(policy, catalog, selection))
    started = datetime.now(UTC)
    settings = policy.document.run
    deadline = Deadline.after(options.deadline_seconds or settings.deadline_seconds)
    reach = open_locations(
        policy,
        selection.environments,
        endpoint_url=options.endpoint_url,
        max_workers=options.max_workers,
        session_factory=options.session_factory,
        org_role=options.org_role,
        shard=selection.shard,
        deadline=deadline,
        role_session_seconds=settings.role_session_seconds,
        clock=options.credentials_clock,
    )
    opened = reach.locations
    gaps = [Gap(environment=u.environment, reason=u.reason) for u in reach.uncovered]
    locations = {locate(c): c for c in opened}
    by_location: dict[tuple[str, str], Connection] = {}
    for connection in opened:
        if isinstance(connection, Connection):
            by_location.setdefault((connection.account_id, connection.region), connection)
    discovery = Discovery()

    def resolve(group: str, where: Where) -> list[ResourceInstance]:
        """Names as written; patterns listed in the location's account and region (a
        pattern that matches nothing is returned as it is)."""
        connection = locations[where]
        written = written_resources(policy, group, where)
        if isinstance(connection, Unreachable):
            failure = connection.failure
            raise Unassessable(
                failure.code,
                f"could not reach account {where.account_id} through {connection.role_arn}: "
                f"{failure}",
            )
        kind = policy.document.resources[group].type
        instances = []
        for instance in written:
            if not is_pattern(instance.name):
                instances.append(instance)
                continue
            try:
                names = discovery.names(
                    (where.account_id, where.region),
                    connection.client,
                    kind,
                    instance.name,
                    instance.parent,
                )
            except DiscoveryFailed as failure:
                raise Unassessable(
                    failure.code,
                    f"could not discover resources matching {instance.name!r}: {failure}",
                ) from None
            instances += [replace(instance, name=name) for name in names] or [instance]
        return instances

    _discover_concurrently(policy, list(locations), resolve)
    targets = plan(policy, catalog, selection, list(locations), resolve)
    if not targets:
        raise InputError(nothing_to_assess(policy, catalog, selection, gaps))
    evidence = EvidenceStore(policy.evidence_dir, policy.repository)

    def clients_for(location: tuple[str, str]) -> Callable[[str], Any]:
        def client(service: str) -> Any:
            return evidence if service == EVIDENCE else by_location[location].client(service)

        return client

    requests = fact_requests(targets)

    def forget_clients() -> None:
        for connection in by_location.values():
            connection.forget_clients()

    outcomes = collect_spread(
        requests,
        clients_for,
        processes=options.processes or default_processes(len(requests)),
        max_workers=options.max_workers,
        service_caps=options.service_caps,
        progress=options.progress,
        forget_clients=forget_clients,
        deadline=deadline,
    )
    results = sorted(
        (evaluate(t, outcomes, catalog, started) for t in targets),
        key=lambda r: (
            r.environment,
            r.resource.account_id,
            r.resource.region,
            r.check_id,
            r.resource.name,
        ),
    )
    in_run = [w for w in policy.document.waivers if w.environment in selection.environments]
    results, waivers = apply_waivers(results, in_run, started.date())
    environments = list(
        dict.fromkeys([*(w.environment for w in locations), *(g.environment for g in gaps)])
    )
    reached = {where.environment for where in locations}
    controls = [
        assess_control(
            c.id,
            c.title,
            c.check_ids,
            results,
            [m.statement for m in c.manual],
            {
                environment: why_no_result(
                    policy, c, selection, environment, environment in reached
                )
                for environment in environments
            },
            requirements={ref.id: ref.verifies for ref in c.checks},
            source_file=str(catalog.files[c.id].relative_to(catalog.directory.parent))
            if c.id in catalog.files
            else "",
            check_lines=catalog.lines.get(c.id, {}),
        )
        for c in catalog.controls
    ]
    return Report(
        run=RunInfo(
            tool_version=__version__,
            started_at=started.isoformat(timespec="seconds"),
            finished_at=_now(),
            policy_file=str(policy.path),
            policy_sha256=policy.sha256,
            git_commit=git_commit(policy.path.resolve().parent),
            input_sha256={policy.path.name: policy.sha256, **catalog.file_hashes()},
            environments=[_environment_info(c) for c in opened],
            selected_checks=list(selection.checks) if selection.checks else None,
            selected_controls=list(selection.controls) if selection.controls else None,
            selected_environments=environments,
            policy_environments=list(policy.environments),
            shard=f"{selection.shard[0]}/{selection.shard[1]}" if selection.shard else None,
            occupied_shards=reach.occupied_shards,
            gaps=gaps,
            deadline=deadline.label,
            deadline_reached=any(
                r.error is not None and r.error.code == DeadlineReached.code for r in results
            ),
        ),
        summary=summarize(controls, results, gaps),
        controls=controls,
        results=results,
        waivers=waivers,
    )


def _environment_info(location: Connection | Unreachable) -> EnvironmentInfo:
    where = locate(location)
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
