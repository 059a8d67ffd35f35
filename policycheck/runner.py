"""Run an audit: plan which checks apply where, collect the facts they need, evaluate,
and assemble the report. Usable as a library; the CLI is a thin layer over it."""

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policycheck import __version__
from policycheck.aws import Connection, SessionFactory, connect, default_session
from policycheck.collect import FactKey, FactRequest, ProgressCallback, collect, fact_key
from policycheck.collectors.drills import EVIDENCE
from policycheck.controls import Catalog
from policycheck.discovery import Discovery, DiscoveryFailed, is_pattern
from policycheck.errors import InputError
from policycheck.evidence import EvidenceStore
from policycheck.facts import FactOutcome, all_facts
from policycheck.policy import Binding, Policy, ResourceInstance
from policycheck.registry import NOW, RESOURCE
from policycheck.report import (
    EnvironmentInfo,
    ErrorInfo,
    Evidence,
    FactEvidence,
    Report,
    ResourceInfo,
    Result,
    RunInfo,
    assess_control,
    summarize,
)
from policycheck.resources import ResourceRef
from policycheck.waivers import apply_waivers


@dataclass(frozen=True)
class Selection:
    """What to run: None means everything."""

    environments: tuple[str, ...]
    checks: tuple[str, ...] | None = None
    controls: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RunOptions:
    endpoint_url: str | None = None
    max_workers: int = 16
    session_factory: SessionFactory = default_session
    progress: ProgressCallback | None = None


@dataclass(frozen=True)
class Target:
    """One result to produce: a bound check on one resource in one environment."""

    binding: Binding
    environment: str
    resource: ResourceInstance
    #: Set when the resource is a pattern whose list call failed.
    discovery_error: DiscoveryFailed | None = None

    @property
    def resource_name(self) -> str:
        return self.resource.name


def shard_of(name: str, count: int) -> int:
    """The shard (1..count) an environment belongs to: stable across runs and machines."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % count + 1


def select(
    policy: Policy,
    catalog: Catalog,
    environments: Sequence[str] = (),
    checks: Sequence[str] = (),
    controls: Sequence[str] = (),
    shard: tuple[int, int] | None = None,
) -> Selection:
    """Validate the user's filters against the policy and catalog; with ``shard=(i, n)``
    keep only the environments of shard i of n."""
    known_envs = list(policy.environments)
    _reject_unknown("--env", environments, known_envs, "environments")
    if shard is not None:
        index, count = shard
        environments = [e for e in (environments or known_envs) if shard_of(e, count) == index]
        if not environments:
            raise InputError(f"--shard {index}/{count}: no environment falls in this shard")
    bound = list(dict.fromkeys(binding.check.id for binding in policy.bindings))
    _reject_unknown("--checks", checks, bound, "checks bound in the policy")
    _reject_unknown("--controls", controls, [c.id for c in catalog.controls], "controls")
    return Selection(
        environments=tuple(environments) or tuple(known_envs),
        checks=tuple(checks) or None,
        controls=tuple(controls) or None,
    )


def _reject_unknown(option: str, given: Sequence[str], known: list[str], what: str) -> None:
    unknown = [item for item in given if item not in known]
    if unknown:
        raise InputError(f"{option}: unknown {unknown[0]!r}; {what}: {', '.join(known)}")


#: (group, environment) -> the group's resources; patterns may raise DiscoveryFailed.
Resolver = Callable[[str, str], list[ResourceInstance]]


def plan(
    policy: Policy, catalog: Catalog, selection: Selection, resolve: Resolver | None = None
) -> list[Target]:
    """Every (check, resource, environment) the selection asks for, in a stable order.
    ``resolve`` expands resource groups (default: the names as written)."""
    resolve = resolve or policy.resources_in
    wanted_by_control: set[str] | None = None
    if selection.controls is not None:
        wanted_by_control = {
            check_id
            for control in catalog.controls
            if control.id in selection.controls
            for check_id in control.check_ids
        }
    targets = []
    for environment in selection.environments:
        for binding in policy.bindings:
            check_id = binding.check.id
            if selection.checks is not None and check_id not in selection.checks:
                continue
            if wanted_by_control is not None and check_id not in wanted_by_control:
                continue
            if not binding.applies_in(environment):
                continue
            for group in binding.resource_groups:
                try:
                    instances = resolve(group, environment)
                except DiscoveryFailed as failure:
                    written = policy.resources_in(group, environment)
                    targets += [Target(binding, environment, i, failure) for i in written]
                    continue
                targets += [Target(binding, environment, i) for i in instances]
    return targets


def fact_requests(
    targets: list[Target], connections: dict[str, Connection]
) -> dict[FactKey, FactRequest]:
    """The distinct facts the targets need: each once per subject, however many checks
    and environments share it."""
    facts = all_facts()
    requests: dict[FactKey, FactRequest] = {}
    for target in targets:
        connection = connections[target.environment]
        resource = target.resource
        for name in target.binding.check.facts:
            spec = facts[name]
            key = fact_key(
                connection.account_id, connection.region, spec, resource.name, resource.parent
            )
            requests[key] = FactRequest(spec, resource.name, resource.parent)
    return requests


def evaluate(
    target: Target,
    region: str,
    account_id: str,
    outcomes: dict[FactKey, FactOutcome],
    catalog: Catalog,
    now: datetime,
) -> Result:
    """Judge one target from collected facts. Missing resource: fail; unreadable fact: error."""
    spec = target.binding.check
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
    if target.discovery_error:
        failure = target.discovery_error
        return Result(
            **common,
            status="error",
            message=f"could not discover resources matching {ref.name!r}: {failure}",
            expected=None,
            observed=None,
            error=ErrorInfo(code=failure.code, message=failure.message),
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


def _discover_concurrently(policy: Policy, selection: Selection, resolve: Resolver) -> None:
    """Warm the discovery listings in parallel (each is then read from its cache)."""
    work = {
        (group, environment)
        for environment in selection.environments
        for binding in policy.bindings
        if binding.applies_in(environment)
        for group in binding.resource_groups
        if policy.is_discovered(group, environment)
    }
    if len(work) > 1:
        with ThreadPoolExecutor(max_workers=min(8, len(work))) as pool:
            for future in [pool.submit(resolve, g, e) for g, e in sorted(work)]:
                with suppress(DiscoveryFailed):
                    future.result()


def run_audit(
    policy: Policy, catalog: Catalog, selection: Selection, options: RunOptions | None = None
) -> Report:
    """Connect to each selected environment, collect facts once, evaluate every target."""
    options = options or RunOptions()
    started = datetime.now(UTC)
    connections = {
        name: connect(
            name,
            policy.environments[name],
            endpoint_url=options.endpoint_url,
            max_workers=options.max_workers,
            session_factory=options.session_factory,
        )
        for name in selection.environments
    }
    by_location: dict[tuple[str, str], Connection] = {}
    for connection in connections.values():
        by_location.setdefault((connection.account_id, connection.region), connection)
    discovery = Discovery()

    def resolve(group: str, environment: str) -> list[ResourceInstance]:
        """Names as written; patterns listed in the environment's account."""
        connection = connections[environment]
        kind = policy.document.resources[group].type
        instances = []
        for written in policy.resources_in(group, environment):
            if not is_pattern(written.name):
                instances.append(written)
                continue
            names = discovery.names(
                (connection.account_id, connection.region),
                connection.client,
                kind,
                written.name,
                written.parent,
            )
            instances += [replace(written, name=name) for name in names]
        return instances

    _discover_concurrently(policy, selection, resolve)
    targets = plan(policy, catalog, selection, resolve)
    evidence = EvidenceStore(policy.evidence_dir)

    def clients_for(location: tuple[str, str]) -> Callable[[str], Any]:
        def client(service: str) -> Any:
            return evidence if service == EVIDENCE else by_location[location].client(service)

        return client

    outcomes = collect(
        fact_requests(targets, connections),
        clients_for,
        max_workers=options.max_workers,
        progress=options.progress,
    )
    results = sorted(
        (
            evaluate(
                t,
                connections[t.environment].region,
                connections[t.environment].account_id,
                outcomes,
                catalog,
                started,
            )
            for t in targets
        ),
        key=lambda r: (r.environment, r.check_id, r.resource.name),
    )
    in_run = [w for w in policy.document.waivers if w.environment in selection.environments]
    results, waivers = apply_waivers(results, in_run, started.date())
    shown = [
        c for c in catalog.controls if selection.controls is None or c.id in selection.controls
    ]
    controls = [
        assess_control(
            c.id,
            c.title,
            c.check_ids,
            results,
            [m.statement for m in c.manual],
            requirements={ref.id: ref.verifies for ref in c.checks},
            source_file=str(catalog.files[c.id].relative_to(catalog.directory.parent))
            if c.id in catalog.files
            else "",
            check_lines=catalog.lines.get(c.id, {}),
        )
        for c in shown
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
            environments=[
                EnvironmentInfo(
                    name=c.environment,
                    account_id=c.account_id,
                    caller_arn=c.caller_arn,
                    region=c.region,
                )
                for c in connections.values()
            ],
            selected_checks=list(selection.checks) if selection.checks else None,
            selected_controls=list(selection.controls) if selection.controls else None,
        ),
        summary=summarize(controls, results),
        controls=controls,
        results=results,
        waivers=waivers,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
