"""From the policy file to what a run needs: each check bound to its resources with its
parameters validated, every resource group expanded per environment, and the
cross-references checked (types, regions, environments, waivers)."""

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pydantic import ValidationError

from policycheck.plugin.check import CheckParams, CheckSpec
from policycheck.plugin.registry import Registry
from policycheck.policy.document import PolicyDocument
from policycheck.policy.templates import expand, expanded_length, is_pattern
from policycheck.policy.waivers import MAX_WAIVER_DAYS
from policycheck.validation import describe_errors, raise_if_errors


@dataclass(frozen=True)
class Binding:
    """A validated binding: the check, its parsed parameters, the resource groups."""

    index: int
    check: CheckSpec
    params: CheckParams
    resource_groups: tuple[str, ...]
    #: None: every environment.
    environments: tuple[str, ...] | None = None

    def applies_in(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments


@dataclass(frozen=True)
class ResourceInstance:
    """One concrete resource a group names in an environment."""

    name: str
    parent: str
    variables: dict[str, str]
    region: str


def resource_instances(
    document: PolicyDocument, group: str, environment: str
) -> list[ResourceInstance]:
    """A group's name (and cluster) patterns expanded for one environment, in each of its
    regions the group applies to."""
    resource = document.resources[group]
    instances = []
    for region in document.environments[environment].region_names:
        if resource.regions is not None and region not in resource.regions:
            continue
        for mcp in document.mcps if resource.uses_mcp() else [None]:
            variables = {"env": environment, "region": region}
            if mcp is not None:
                variables["mcp"] = mcp
            instances.append(
                ResourceInstance(
                    name=expand(resource.name, variables),
                    parent=expand(resource.cluster or "", variables),
                    variables=variables,
                    region=region,
                )
            )
    return instances


def bind_checks(path: Path, document: PolicyDocument, registry: Registry) -> tuple[Binding, ...]:
    """The document's check bindings, validated against the registry and the document
    itself; InputError listing every problem, each with the file and key."""
    problems = [
        p for key in document.resources for p in _group_problems(path, document, key, registry)
    ]
    bindings: list[Binding] = []
    seen: dict[tuple[str, str], list[tuple[int, set[str]]]] = {}
    for index, written in enumerate(document.checks):
        spec = registry.checks.get(written.check)
        if spec is None:
            known = ", ".join(registry.checks)
            problems.append(
                f"{path}: checks[{index}].check: unknown check {written.check!r}; known: {known}"
            )
            continue
        wrong = _binding_problems(path, document, registry, index, spec, seen)
        try:
            params = spec.params_model.model_validate(written.params)
        except ValidationError as exc:
            wrong.extend(describe_errors(path, exc, ("checks", index, "params")))
        problems += wrong
        if wrong:  # reported; never expanded (its groups or environments may not exist)
            continue
        environments = tuple(written.environments) if written.environments else None
        bindings.append(Binding(index, spec, params, tuple(written.resources), environments))
    problems += _waiver_problems(path, document, bindings)
    raise_if_errors(problems)
    return tuple(bindings)


def _group_problems(
    path: Path, document: PolicyDocument, key: str, registry: Registry
) -> list[str]:
    where = f"{path}: resources.{key}"
    resource = document.resources[key]
    if resource.type not in registry.resource_types:
        known = ", ".join(registry.resource_types)
        return [f"{where}.type: unknown resource type {resource.type!r}; known: {known}"]
    problems = []
    if resource.uses_mcp() and not document.mcps:
        problems.append(f"{where}.name: uses {{mcp}} but `mcps` is empty")
    resource_type = registry.resource_types[resource.type]
    if is_pattern(resource.name) and resource_type.listing is None:
        problems.append(f"{where}.name: a {resource.type} cannot be named by pattern")
    lengths = [("name", resource.name, resource_type.max_name_length)]
    if resource.cluster is not None:
        lengths.append(("cluster", resource.cluster, resource_type.max_parent_length))
    for field, template, limit in lengths:
        longest = _longest_expansion(document, template)
        if limit is not None and longest > limit:
            problems.append(
                f"{where}.{field}: expands to names of up to {longest:,} characters; "
                f"AWS allows at most {limit} ({resource_type.label} {field})"
            )
    return problems + _region_problems(where, document, key)


def _longest_expansion(document: PolicyDocument, template: str) -> int:
    """The length of the longest name ``template`` expands to in any environment and
    region, with the longest MCP name (computed, not expanded)."""
    mcp = max((len(name) for name in document.mcps), default=0)
    return max(
        expanded_length(template, {"env": len(env), "region": len(region), "mcp": mcp})
        for env, config in document.environments.items()
        for region in config.region_names
    )


def _binding_problems(
    path: Path,
    document: PolicyDocument,
    registry: Registry,
    index: int,
    spec: CheckSpec,
    seen: dict[tuple[str, str], list[tuple[int, set[str]]]],
) -> list[str]:
    """A binding's unknown or mistyped groups, repeated bindings, unknown environments."""
    where = f"{path}: checks[{index}]"
    written = document.checks[index]
    environments = set(written.environments or document.environments)
    types = registry.resource_types
    problems = []
    for position, group in enumerate(written.resources):
        resource = document.resources.get(group)
        if resource is None:
            problems.append(
                f"{where}.resources[{position}]: unknown resource {group!r}; "
                f"defined: {', '.join(document.resources)}"
            )
        elif resource.type not in types:
            continue  # said once, under resources
        elif resource.type != spec.resource_type:
            label = types[resource.type].label
            problems.append(
                f"{where}.resources[{position}]: {spec.id} applies to "
                f"{types[spec.resource_type].label}s, but {group!r} is a {label}"
            )
        else:
            earlier = [i for i, envs in seen.get((spec.id, group), []) if envs & environments]
            if earlier:
                problems.append(
                    f"{where}.resources[{position}]: {spec.id} is bound to {group!r} "
                    f"already in checks[{earlier[0]}]"
                )
            seen.setdefault((spec.id, group), []).append((index, environments))
    for position, environment in enumerate(written.environments or []):
        if environment not in document.environments:
            problems.append(
                f"{where}.environments[{position}]: unknown environment {environment!r}; "
                f"defined: {', '.join(document.environments)}"
            )
    return problems


def _waived_names(
    document: PolicyDocument, bindings: list[Binding], check: str, env: str
) -> set[str]:
    """The resource names (patterns as written) a check covers in an environment."""
    return {
        instance.name
        for binding in bindings
        if binding.check.id == check and binding.applies_in(env)
        for group in binding.resource_groups
        for instance in resource_instances(document, group, env)
    }


def _broad_waiver_problems(
    path: Path, document: PolicyDocument, bindings: list[Binding]
) -> list[str]:
    """A waiver that switches a check off must say so (``scope: all``): a glob covering
    every resource the check covers in its environment, or waivers that together waive a
    critical check in every environment where it is bound."""
    problems = []
    for index, waiver in enumerate(document.waivers):
        if waiver.scope == "all" or waiver.resource_glob is None:
            continue
        if waiver.environment not in document.environments:
            continue  # reported by _waiver_problems
        names = _waived_names(document, bindings, waiver.check, waiver.environment)
        if waiver.resource_glob.strip("*") == "" or (
            names and all(waiver.covers(name) for name in names)
        ):
            problems.append(
                f"{path}: waivers[{index}].resource_glob: {waiver.resource_glob!r} waives "
                f"{waiver.check} for every resource it checks in {waiver.environment}; a waiver "
                "that switches a check off must say `scope: all`"
            )
    critical = {b.check.id for b in bindings if b.check.severity == "critical"}
    for check in sorted(critical):
        bound_in = {
            env
            for env in document.environments
            for b in bindings
            if b.check.id == check
            if b.applies_in(env)
        }
        waivers = [(i, w) for i, w in enumerate(document.waivers) if w.check == check]
        everywhere = bound_in and all(
            all(
                any(w.covers(name) for _, w in waivers if w.environment == env)
                for name in _waived_names(document, bindings, check, env)
            )
            for env in bound_in
        )
        unacknowledged = [i for i, w in waivers if w.scope != "all"]
        if everywhere and unacknowledged:
            problems.append(
                f"{path}: waivers[{unacknowledged[0]}]: the waivers of critical check {check} "
                f"together waive it for every resource in every environment "
                f"({', '.join(sorted(bound_in))}); each must say `scope: all`"
            )
    return problems


def _region_problems(where: str, document: PolicyDocument, group: str) -> list[str]:
    """A group's regions must exist in the policy; a bucket named alike in several regions
    of one environment would be one bucket, checked once per region."""
    resource = document.resources[group]
    known = {r for e in document.environments.values() for r in e.region_names}
    problems = [
        f"{where}.regions[{i}]: {region!r} is not a region of any environment"
        for i, region in enumerate(resource.regions or [])
        if region not in known
    ]
    if resource.type == "s3_bucket" and "{region}" not in resource.name:
        for environment in document.environments:
            regions = {i.region for i in resource_instances(document, group, environment)}
            if len(regions) > 1 and not is_pattern(resource.name):
                problems.append(
                    f"{where}.name: a bucket lives in one region, but {resource.name!r} names "
                    f"the same bucket in {environment}'s regions {', '.join(sorted(regions))}; "
                    "use {region} in the name or limit the group with `regions`"
                )
    return problems


def _waiver_problems(path: Path, document: PolicyDocument, bindings: list[Binding]) -> list[str]:
    latest = date.today() + timedelta(days=MAX_WAIVER_DAYS)
    problems = _broad_waiver_problems(path, document, bindings)
    for index, waiver in enumerate(document.waivers):
        where = f"{path}: waivers[{index}]"
        if waiver.environment not in document.environments:
            problems.append(f"{where}.environment: unknown environment {waiver.environment!r}")
            continue
        if waiver.expires > latest:
            problems.append(f"{where}.expires: {waiver.expires} is more than a year ahead")
        names = {
            name
            for binding in bindings
            if binding.check.id == waiver.check and binding.applies_in(waiver.environment)
            for group in binding.resource_groups
            for name in (r.name for r in resource_instances(document, group, waiver.environment))
        }
        if not names:
            problems.append(f"{where}.check: {waiver.check!r} is not bound in {waiver.environment}")
        elif (
            waiver.resource
            and not waiver.resource.startswith("arn:")
            and not any(is_pattern(name) for name in names)  # discovered at run time
            and waiver.resource not in names
        ):
            problems.append(
                f"{where}.resource: {waiver.resource!r} is not a resource {waiver.check} "
                f"checks in {waiver.environment}"
            )
    return problems
