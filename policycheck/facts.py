"""Facts: named pieces of configuration, each read by one fetch with declared API actions.

Collectors (``policycheck.collectors``) declare facts; checks name the facts they need.
A fact is fetched at most once per resource per run, however many checks need it.
"""

import threading
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

T = TypeVar("T")

#: resource: one fetch per resource; parent: one per parent (an ECS service's cluster);
#: account: one per account and region.
FactScope = Literal["resource", "parent", "account"]


class ResourceMissing(Exception):
    """Raised by a fetch whose API answers "no such resource" without an error code."""


class Memo:
    """Run-wide answers to sub-requests that several facts share (a KMS key used by many
    tables, a role used by many services): each is computed once, even concurrently."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, Future[Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = self._entries[key] = Future()
        if owner:
            try:
                entry.set_result(compute())
            except BaseException as exc:
                entry.set_exception(exc)
        return entry.result()


@dataclass(frozen=True)
class FetchContext:
    """What a fetch may use: the subject's names, the clients, dependency values."""

    name: str
    account_id: str
    region: str
    parent: str
    #: client(service) -> the shared boto3 client (or local source) for this location.
    client: Callable[[str], Any]
    #: Values of the facts this one depends on, by fact name.
    deps: Mapping[str, Any] = field(default_factory=dict)
    #: memo(key, compute): shared, once-per-run answers (see Memo).
    memo: Callable[[Hashable, Callable[[], Any]], Any] = field(default_factory=lambda: Memo().get)


@dataclass(frozen=True)
class FactSpec:
    """How to read one fact."""

    name: str
    #: The resource type the fact describes (account-scoped facts are needed by checks of
    #: this resource type but describe the account).
    resource_type: str
    #: The IAM actions the fetch needs; the first is the one named in error messages.
    actions: tuple[str, ...]
    fetch: Callable[[FetchContext], Any]
    scope: FactScope = "resource"
    #: Error codes meaning "this configuration is not set": the fact's value is None.
    absent_codes: frozenset[str] = frozenset()
    #: Facts of the same subject whose values the fetch needs (fetched first, once).
    depends_on: tuple[str, ...] = ()
    #: The fetch shares lookups with other subjects through ``ctx.memo`` (a KMS key, a
    #: role): its subjects are collected in one process, so each lookup is made once.
    uses_memo: bool = False

    @property
    def action(self) -> str:
        return self.actions[0]


@dataclass(frozen=True)
class AwsError:
    """A failure that leaves a fact unknown."""

    code: str
    message: str


@dataclass(frozen=True)
class FactOutcome:
    """What reading a fact produced: a value (None = not configured), a missing
    resource, or an error."""

    spec: FactSpec
    value: Any = None
    resource_missing: bool = False
    error: AwsError | None = None
    fetched_at: str = ""


FACTS: dict[str, FactSpec] = {}


def register_fact(spec: FactSpec) -> FactSpec:
    """Add a fact to the registry; names are unique, dependencies registered first and of
    the same scope."""
    if spec.name in FACTS:
        raise ValueError(f"fact {spec.name!r} registered twice")
    for dependency in spec.depends_on:
        if dependency not in FACTS or FACTS[dependency].scope != spec.scope:
            raise ValueError(f"{spec.name}: dependency {dependency!r} unknown or of another scope")
    FACTS[spec.name] = spec
    return spec


def all_facts() -> dict[str, FactSpec]:
    """Every registered fact, by name."""
    import policycheck.collectors  # noqa: F401  (registers the facts)

    return FACTS


def fact_order(names: Mapping[str, FactSpec]) -> list[list[str]]:
    """Fact names grouped in waves: every fact comes after the facts it depends on."""
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        if name not in depth:
            deps = FACTS[name].depends_on
            depth[name] = 1 + max(map(depth_of, deps)) if deps else 0
        return depth[name]

    waves: dict[int, list[str]] = {}
    for name in names:
        waves.setdefault(depth_of(name), []).append(name)
    return [waves[level] for level in sorted(waves)]
