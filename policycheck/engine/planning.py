"""Planning a run: what the user selected, the scope it plans over, and every (check,
resource, location) that scope asks for; why a control has no result where it has none."""

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

from policycheck.engine.locations import Where, static_locations
from policycheck.errors import InputError
from policycheck.plugin.resources import ResourceType
from policycheck.policy.bindings import Binding, ResourceInstance
from policycheck.policy.controls import Catalog, Control
from policycheck.policy.load import Policy
from policycheck.policy.templates import is_pattern
from policycheck.report.model import ControlInEnvironment, Gap


@dataclass(frozen=True)
class Selection:
    """What to run: None means everything."""

    environments: tuple[str, ...]
    checks: tuple[str, ...] | None = None
    controls: tuple[str, ...] | None = None
    #: (i, n): only the environments and accounts of shard i of n.
    shard: tuple[int, int] | None = None


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
    kind: ResourceType
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
    unbound = [c for c in checks if c in policy.registry.checks and c not in bound]
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


#: (resource type, name pattern, parent) -> the names of existing resources it matches.
NamesMatching = Callable[[ResourceType, str, str], list[str]]


def resolve_with(
    policy: Policy, group: str, where: Where, names: NamesMatching
) -> list[ResourceInstance]:
    """A group's resources in a location: names as written, patterns expanded to the
    names ``names`` finds (a pattern that matches nothing comes back as it is)."""
    kind = policy.registry.resource_types[policy.document.resources[group].type]
    instances = []
    for instance in written_resources(policy, group, where):
        if not is_pattern(instance.name):
            instances.append(instance)
            continue
        found = names(kind, instance.name, instance.parent)
        instances += [replace(instance, name=name) for name in found] or [instance]
    return instances


@dataclass(frozen=True)
class Scope:
    """What a run plans over: the policy and its controls, the user's selection, the
    locations to look at and how a resource group resolves in each. It travels whole
    through planning, subjects and judging."""

    policy: Policy
    catalog: Catalog
    selection: Selection
    locations: tuple[Where, ...]
    resolve: Resolver

    @classmethod
    def as_written(cls, policy: Policy, catalog: Catalog, selection: Selection) -> "Scope":
        """The policy's locations as configured, resource groups named as written (no
        AWS call)."""
        return cls(
            policy,
            catalog,
            selection,
            tuple(static_locations(policy, selection.environments)),
            partial(written_resources, policy),
        )

    def bindings(self, environment: str) -> list[Binding]:
        """The bindings the selection asks for in an environment, in the policy's order."""
        selection = self.selection
        wanted_by_control: set[str] | None = None
        if selection.controls is not None:
            wanted_by_control = {
                check_id
                for control in self.catalog.controls
                if control.id in selection.controls
                for check_id in control.check_ids
            }
        return [
            binding
            for binding in self.policy.bindings
            if (selection.checks is None or binding.check.id in selection.checks)
            and (wanted_by_control is None or binding.check.id in wanted_by_control)
            and binding.applies_in(environment)
        ]

    def input_sha256(self) -> dict[str, str]:
        """SHA-256 of the policy file (as loaded) and of every control file (read now),
        by the names a report gives them."""
        return {self.policy.path.name: self.policy.sha256, **self.catalog.file_hashes()}

    def targets(self) -> list[Target]:
        """Every (check, resource, location) the scope asks for, in a stable order."""
        targets: list[Target] = []
        for where in self.locations:
            for binding in self.bindings(where.environment):
                for group in binding.resource_groups:
                    targets += group_targets(self, binding, where, group)
        return targets


def group_targets(scope: Scope, binding: Binding, where: Where, group: str) -> Iterator[Target]:
    """A bound group's targets in a location, one at a time; a group that cannot be
    resolved there gives its resources as written, each with the failure."""
    policy = scope.policy
    try:
        instances = scope.resolve(group, where)
    except Unassessable as unassessable:
        failure = unassessable  # the name of an except clause ends with it
        kind = policy.registry.resource_types[binding.check.resource_type]
        written = written_resources(policy, group, where)
        return (Target(binding, where, i, kind, failure) for i in written)
    return _targets(policy, binding, where, group, instances)


def _targets(
    policy: Policy, binding: Binding, where: Where, group: str, instances: list[ResourceInstance]
) -> Iterator[Target]:
    """A bound group's targets; a pattern that matched nothing fails unless allowed."""
    resource = policy.document.resources[group]
    kind = policy.registry.resource_types[resource.type]
    for instance in instances:
        if not is_pattern(instance.name):
            yield Target(binding, where, instance, kind)
        elif not resource.allow_empty and kind.listing is not None:
            failure = NothingMatches(instance.name, group, kind.listing.action)
            yield Target(binding, where, instance, kind, failure)


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


#: Per control, what it is in each selected environment where it has no result.
NoResults = dict[str, dict[str, ControlInEnvironment]]


def why_no_results(scope: Scope, audited: Collection[str]) -> NoResults:
    """What each control is in each selected environment where it has no result (see
    why_no_result). ``audited``: the environments the run looked at (reached or not)."""
    policy, selection = scope.policy, scope.selection
    return {
        control.id: {
            environment: why_no_result(
                policy, control, selection, environment, environment in audited
            )
            for environment in selection.environments
        }
        for control in scope.catalog.controls
    }


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
