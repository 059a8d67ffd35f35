"""The registry: every resource type, fact and check, and how a plan run gets each fact,
gathered explicitly from the plugin modules (collectors, plan readers, checks) and checked
for consistency before anything runs.

Plugin modules declare module-level ResourceType, FactSpec, CheckSpec and plan source
(``policycheck.plugin.plans``) objects; the engine imports no plugin. Only
:func:`load_registry` finds them, by module name."""

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType, ModuleType
from typing import TypeVar

from policycheck.plugin.check import CheckSpec
from policycheck.plugin.facts import FactSpec
from policycheck.plugin.plans import (
    FromRepository,
    PlanGap,
    PlannedType,
    PlanReader,
    PlanSource,
    PlanSources,
)
from policycheck.plugin.resources import ResourceType

T = TypeVar("T")

#: The packages whose modules declare plugins (a module of them that declares none, such
#: as the plan file reader, is a helper the engine may import).
PLUGIN_PACKAGES = (
    "policycheck.sources.aws",
    "policycheck.sources.repository",
    "policycheck.sources.terraform",
    "policycheck.checks",
)
#: What a plugin module declares.
DECLARATIONS = (ResourceType, FactSpec, CheckSpec, PlanReader, PlanGap, FromRepository, PlannedType)


class PluginError(Exception):
    """The plugins contradict each other: a bug in a plugin, never in the user's input."""


@dataclass(frozen=True)
class Registry:
    """Every resource type, fact and check, by name, and how a plan run gets each fact;
    read-only."""

    resource_types: Mapping[str, ResourceType]
    facts: Mapping[str, FactSpec]
    checks: Mapping[str, CheckSpec]
    plan: PlanSources

    def facts_of(self, check: CheckSpec) -> list[FactSpec]:
        """The facts a check needs and everything they depend on, each once."""
        pending = [self.facts[name] for name in check.facts]
        seen: dict[str, FactSpec] = {}
        while pending:
            spec = pending.pop()
            if spec.name not in seen:
                seen[spec.name] = spec
                pending.extend(spec.depends_on)
        return list(seen.values())


@cache
def load_registry(packages: tuple[str, ...] = PLUGIN_PACKAGES) -> Registry:
    """Import every module of the plugin packages and gather their declarations into
    one frozen registry; PluginError when they are inconsistent.

    A fact of a policy's own plugin (a package outside PLUGIN_PACKAGES) that declares no
    plan source gets a PlanGap naming the plugin: a plugin written for live runs keeps
    working, and a plan run says why it does not judge the plugin's checks. A built-in
    fact without one is refused."""
    modules = {module: package for package in packages for module in _modules(package)}
    declared = [v for m in modules for v in vars(m).values() if isinstance(v, DECLARATIONS)]
    sourced = {v.fact for v in declared if isinstance(v, PlanSource)}
    undeclared = {
        v.name: PlanGap(v.name, f"the plugin {m.__name__} declares no plan reader for {v.name}")
        for m, package in modules.items()
        if package not in PLUGIN_PACKAGES
        for v in vars(m).values()
        if isinstance(v, FactSpec) and v.name not in sourced
    }
    return build_registry(
        [v for v in declared if isinstance(v, ResourceType)],
        [v for v in declared if isinstance(v, FactSpec)],
        [v for v in declared if isinstance(v, CheckSpec)],
        plan_sources=[*(v for v in declared if isinstance(v, PlanSource)), *undeclared.values()],
        planned_types=[v for v in declared if isinstance(v, PlannedType)],
    )


def declaring_modules(packages: tuple[str, ...] = PLUGIN_PACKAGES) -> list[str]:
    """The plugin modules of the packages: those declaring something the registry
    gathers."""
    return [
        module.__name__
        for package in packages
        for module in _modules(package)
        if any(isinstance(v, DECLARATIONS) for v in vars(module).values())
    ]


#: The entry-point group through which an installed distribution offers check modules.
ENTRY_POINT_GROUP = "policycheck.checks"


def plugin_modules(modules: Iterable[str], entry_points: bool) -> tuple[str, ...]:
    """The module names a policy's ``plugins:`` adds to the built-in packages: those it
    names, and with ``entry_points`` the modules of every installed distribution's
    ``policycheck.checks`` entry points."""
    from importlib.metadata import entry_points as installed

    offered = [ep.module for ep in installed(group=ENTRY_POINT_GROUP)] if entry_points else []
    return tuple(dict.fromkeys([*modules, *offered]))


def _modules(package: str) -> list[ModuleType]:
    """A package and its modules; a plain module (a plugin) alone."""
    root = importlib.import_module(package)
    if not hasattr(root, "__path__"):
        return [root]
    return [root] + [
        importlib.import_module(f"{package}.{info.name}")
        for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda info: info.name)
    ]


def build_registry(
    resource_types: Iterable[ResourceType],
    facts: Iterable[FactSpec],
    checks: Iterable[CheckSpec],
    *,
    plan_sources: Iterable[PlanSource],
    planned_types: Iterable[PlannedType],
) -> Registry:
    """A registry of these declarations (each object once, however many modules name
    it); PluginError on a duplicate name, a fact of an undeclared type, a dependency that
    is missing or of another scope, a check needing an unknown fact or a fact of another
    resource type, a fact without IAM actions, a fact without a plan source (or with two),
    a plan source of an unknown fact, a planned type of an unknown resource type."""
    types = _unique(resource_types, "resource type", lambda t: t.name)
    specs = _unique(facts, "fact", lambda f: f.name)
    found = _unique(checks, "check", lambda c: c.id)
    sources = _unique(plan_sources, "the plan source of fact", lambda s: s.fact)
    planned = _unique(planned_types, "the planned type of", lambda p: p.resource_type)
    problems = [p for spec in specs.values() for p in _fact_problems(spec, types, specs)]
    problems += [p for spec in found.values() for p in _check_problems(spec, types, specs)]
    problems += _plan_problems(specs, sources, types, planned)
    if problems:
        raise PluginError("; ".join(problems))
    return Registry(
        MappingProxyType(types),
        MappingProxyType(specs),
        MappingProxyType(found),
        PlanSources(MappingProxyType(sources), MappingProxyType(planned)),
    )


def _unique(items: Iterable[T], kind: str, key: Callable[[T], str]) -> dict[str, T]:
    named: dict[str, T] = {}
    for item in items:
        name = key(item)
        if name in named and named[name] is not item:
            raise PluginError(f"{kind} {name!r} is declared twice")
        named[name] = item
    return dict(sorted(named.items()))


def _fact_problems(
    spec: FactSpec, types: Mapping[str, ResourceType], facts: Mapping[str, FactSpec]
) -> list[str]:
    problems = []
    if types.get(spec.resource_type.name) is not spec.resource_type:
        problems.append(
            f"fact {spec.name}: resource type {spec.resource_type.name} is not declared"
        )
    if not spec.actions:
        problems.append(f"fact {spec.name}: declares no IAM action")
    for dependency in spec.depends_on:
        if facts.get(dependency.name) is not dependency or dependency.scope != spec.scope:
            problems.append(
                f"fact {spec.name}: dependency {dependency.name!r} undeclared or of another scope"
            )
    return problems


def _check_problems(
    spec: CheckSpec, types: Mapping[str, ResourceType], facts: Mapping[str, FactSpec]
) -> list[str]:
    if spec.resource_type not in types:
        return [f"check {spec.id}: unknown resource type {spec.resource_type!r}"]
    problems = []
    for name in spec.facts:
        if name not in facts:
            problems.append(f"check {spec.id}: unknown fact {name!r}")
        elif facts[name].resource_type.name != spec.resource_type:
            problems.append(
                f"check {spec.id}: fact {name} describes {facts[name].resource_type.name}s, "
                f"not {spec.resource_type}s"
            )
    return problems


def _plan_problems(
    facts: Mapping[str, FactSpec],
    sources: Mapping[str, PlanSource],
    types: Mapping[str, ResourceType],
    planned: Mapping[str, PlannedType],
) -> list[str]:
    problems = [
        f"fact {name}: no plan source declared (a PlanReader, a PlanGap or FromRepository)"
        for name in facts
        if name not in sources
    ]
    problems += [
        f"{type(source).__name__} of unknown fact {name!r}"
        for name, source in sources.items()
        if name not in facts
    ]
    problems += [
        f"PlannedType of unknown resource type {name!r}" for name in planned if name not in types
    ]
    return problems
