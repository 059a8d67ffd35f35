"""A run's targets one resource at a time: every check on one resource in one account and
region (however many environments, groups and bindings name it) comes together with the
facts those checks need, so that the facts are read once, judged at once and forgotten.
Facts of a whole account or of a parent (an ECS cluster) are shared by many resources:
they are read first (``shared_requests``)."""

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from operator import itemgetter

from policycheck.engine.fetching import FactKey, FactRequest, fact_key, with_dependencies
from policycheck.engine.locations import Where, shard_of
from policycheck.engine.planning import Resolver, Scope, Target, Unassessable, group_targets
from policycheck.plugin.facts import FactSpec
from policycheck.policy.bindings import Binding, ResourceInstance
from policycheck.policy.load import Policy
from policycheck.policy.templates import is_pattern
from policycheck.report.spool import sort_key


@dataclass(frozen=True, slots=True)
class Planned:
    """A target, and its result's place in the report: by environment, account, region,
    check and resource, then as planned (binding, group)."""

    target: Target
    key: str


@dataclass(frozen=True, slots=True)
class Subject:
    """Every target on one resource in one account and region."""

    account_id: str
    region: str
    parent: str
    name: str
    planned: tuple[Planned, ...]

    def requests(self, policy: Policy) -> dict[FactKey, FactRequest]:
        """The facts its targets need (and what those depend on), each once."""
        facts = policy.registry.facts
        return with_dependencies(
            {
                fact_key(self.account_id, self.region, facts[name], self.name, self.parent): (
                    FactRequest(facts[name], self.name, self.parent)
                )
                for planned in self.planned
                if not planned.target.failure
                for name in planned.target.binding.check.facts
            }
        )

    def part(self, parts: int, sharing_checks: frozenset[str]) -> int:
        """Which of ``parts`` judges it: stable, by account, region and name; a subject
        of a check whose facts share lookups (a KMS key, a role: ``sharing_checks``) in
        the first, so that each lookup is made once."""
        if parts < 2 or any(p.target.binding.check.id in sharing_checks for p in self.planned):
            return 0
        return (
            shard_of("\0".join((self.account_id, self.region, self.parent, self.name)), parts) - 1
        )


class _SortedResolver:
    """A resolver's answers in name order, kept for one location at a time."""

    def __init__(self, resolve: Resolver) -> None:
        self._resolve = resolve
        self._cache: dict[tuple[str, Where], list[ResourceInstance] | Unassessable] = {}

    def __call__(self, group: str, where: Where) -> list[ResourceInstance]:
        key = (group, where)
        if key not in self._cache:
            try:
                self._cache[key] = sorted(self._resolve(group, where), key=_by_name)
            except Unassessable as failure:
                self._cache[key] = failure
        cached = self._cache[key]
        if isinstance(cached, Unassessable):
            raise cached
        return cached

    def forget(self) -> None:
        self._cache.clear()


def _by_name(instance: ResourceInstance) -> tuple[str, str]:
    return instance.parent, instance.name


def subjects(scope: Scope) -> Iterator[Subject]:
    """Every target of the scope (as Scope.targets makes them) by resource: location by
    location (account and region), resources in name order."""
    resolver = _SortedResolver(scope.resolve)
    in_order = replace(scope, resolve=resolver)
    by_location: dict[tuple[str, str], list[Where]] = {}
    for where in scope.locations:
        by_location.setdefault((where.account_id, where.region), []).append(where)
    for (account_id, region), wheres in by_location.items():
        streams = [
            _planned(in_order, where, binding, position, group)
            for where in wheres
            for binding in scope.bindings(where.environment)
            for position, group in enumerate(binding.resource_groups)
        ]
        merged = heapq.merge(*streams, key=itemgetter(0))
        for (parent, name), together in itertools.groupby(merged, key=itemgetter(0)):
            yield Subject(account_id, region, parent, name, tuple(p for _, p in together))
        resolver.forget()


def _planned(
    scope: Scope, where: Where, binding: Binding, group_position: int, group: str
) -> Iterator[tuple[tuple[str, str], Planned]]:
    for target in group_targets(scope, binding, where, group):
        name = target.resource.name
        key = sort_key(
            where.environment,
            where.account_id,
            where.region,
            binding.check.id,
            name,
            binding.index,
            group_position,
        )
        yield _by_name(target.resource), Planned(target, key)


def shared_requests(scope: Scope) -> dict[FactKey, FactRequest]:
    """The facts of whole accounts and of parents that the targets need, with what they
    depend on."""
    facts = scope.policy.registry.facts
    requests: dict[FactKey, FactRequest] = {}
    for where in scope.locations:
        for binding in scope.bindings(where.environment):
            specs = [facts[name] for name in binding.check.facts]
            shared = [spec for spec in specs if spec.scope != "resource"]
            for group in binding.resource_groups if shared else ():
                try:
                    instances = scope.resolve(group, where)
                except Unassessable:
                    continue
                parents = {i.parent: i for i in instances if not is_pattern(i.name)}
                for instance in parents.values():
                    for spec in shared:
                        key = fact_key(
                            where.account_id, where.region, spec, instance.name, instance.parent
                        )
                        requests.setdefault(key, FactRequest(spec, instance.name, instance.parent))
    return with_dependencies(requests)


def sharing_checks(policy: Policy) -> frozenset[str]:
    """The checks whose resources' facts share lookups (``FactSpec.uses_memo``)."""

    def shares(spec: FactSpec) -> bool:
        own = spec.uses_memo and spec.scope == "resource"
        return own or any(shares(dependency) for dependency in spec.depends_on)

    facts = policy.registry.facts
    return frozenset(
        binding.check.id
        for binding in policy.bindings
        if any(shares(facts[name]) for name in binding.check.facts)
    )
