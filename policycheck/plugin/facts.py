"""Facts: named pieces of configuration, each read by one fetch with declared API actions.

Collectors (``policycheck.sources.aws``) declare facts; checks name the facts they need;
``policycheck.plugin.registry`` gathers both into the registry. A fact is fetched at most once per
resource per run, however many checks need it.
"""

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from policycheck.plugin.resources import ResourceType

T = TypeVar("T")

#: resource: one fetch per resource; parent: one per parent (an ECS service's cluster);
#: account: one per account and region.
FactScope = Literal["resource", "parent", "account"]


class ResourceMissing(Exception):
    """Raised by a fetch whose API answers "no such resource" without an error code."""


class UnknownAnswer(Exception):
    """Raised by a fetch whose answer leaves the fact unknown although the call succeeded
    (a failures entry, a listing that stops making progress): an error, never a value.
    ``code`` becomes the error's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
        result: T = entry.result()
        return result

    def known(self, key: Hashable) -> Any:
        """What is already computed under ``key``, None if nothing is: never computes or
        waits, so a reader shares no lookup with anyone."""
        with self._lock:
            entry = self._entries.get(key)
        return entry.result() if entry is not None and entry.done() else None


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
    #: known(key): what the run's memo already holds (discovery's ListedRegions), or None;
    #: a read only, so not ``uses_memo``.
    known: Callable[[Hashable], Any] = field(default_factory=lambda: Memo().known)


@dataclass(frozen=True)
class Answered:
    """What a fetch returns for a value an earlier call of the run already answered (the
    region of a bucket in the ListBuckets answer that discovered it), instead of calling:
    the evidence names that call's actions and time, not the fact's own."""

    value: Any
    actions: tuple[str, ...]
    fetched_at: str


@dataclass(frozen=True)
class FactSpec:
    """How to read one fact."""

    name: str
    #: The resource type the fact describes (account-scoped facts are needed by checks of
    #: this resource type but describe the account).
    resource_type: ResourceType
    #: The IAM actions the fetch needs; the first is the one named in error messages.
    actions: tuple[str, ...]
    fetch: Callable[[FetchContext], Any]
    scope: FactScope = "resource"
    #: Error codes meaning "this configuration is not set": the fact's value is None.
    absent_codes: frozenset[str] = frozenset()
    #: Facts of the same subject whose values the fetch needs (fetched first, once).
    depends_on: tuple["FactSpec", ...] = ()
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
    #: How long reading it took (None: not read from an API, e.g. from a plan).
    seconds: float | None = None


def fact_order(specs: Iterable[FactSpec]) -> list[list[FactSpec]]:
    """The specs grouped in waves: every fact comes after the facts it depends on."""
    depth: dict[str, int] = {}

    def depth_of(spec: FactSpec) -> int:
        if spec.name not in depth:
            deps = spec.depends_on
            depth[spec.name] = 1 + max(map(depth_of, deps)) if deps else 0
        return depth[spec.name]

    waves: dict[int, dict[str, FactSpec]] = {}
    for spec in specs:
        waves.setdefault(depth_of(spec), {})[spec.name] = spec
    return [list(waves[level].values()) for level in sorted(waves)]
