"""Fetch facts concurrently, each at most once per subject per run, dependencies first."""

import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import partial
from queue import Empty, SimpleQueue
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from policycheck.deadline import NO_DEADLINE, Deadline
from policycheck.engine.pool import DaemonPool
from policycheck.errors import aws_error, storable_text
from policycheck.plugin.facts import (
    Answered,
    AwsError,
    FactOutcome,
    FactSpec,
    FetchContext,
    Memo,
    ResourceMissing,
    UnknownAnswer,
    fact_order,
)
from policycheck.report.jsonstream import MAX_VALUE_CHARS

ProgressCallback = Callable[[int, int], None]
#: In-flight fetches allowed per service (``"*"``: any service) in one account and region.
ServiceCaps = Mapping[str, int]
#: (account_id, region) -> client(service) for that location.
ClientsFor = Callable[[tuple[str, str]], Callable[[str], Any]]


@dataclass(frozen=True)
class FactKey:
    """Identifies one fetch: a fact of a subject (resource, parent or account) in an
    account and region. Environments that share an account share its facts."""

    account_id: str
    region: str
    fact: str
    #: The resource's name, its parent's name, or empty for account-scoped facts.
    subject: str

    @property
    def location(self) -> tuple[str, str]:
        return self.account_id, self.region


@dataclass(frozen=True)
class FactRequest:
    """A fact to read about one resource."""

    spec: FactSpec
    name: str
    parent: str = ""


def fact_key(account_id: str, region: str, spec: FactSpec, name: str, parent: str = "") -> FactKey:
    """The key under which a check finds a fact about a resource."""
    # A resource is known by its parent too: services of the same name in two clusters
    # are two services.
    resource = f"{parent}/{name}" if parent else name
    subject = {"resource": resource, "parent": parent, "account": ""}[spec.scope]
    return FactKey(account_id, region, spec.name, subject)


#: The longest a fact's value may be as JSON: readers of report.json refuse longer values.
MAX_FACT_CHARS = MAX_VALUE_CHARS


def jsonable(value: Any) -> Any:
    """An API answer as a report stores it (datetimes and bytes turned into JSON-ready
    values); UnknownAnswer naming the field for what a report cannot hold: text that is not
    Unicode (a lone surrogate), a type JSON has no form for, a number that is not finite,
    more than MAX_FACT_CHARS."""
    converted = _converted(value, "")
    size = len(json.dumps(converted, allow_nan=False))
    if size > MAX_FACT_CHARS:
        raise UnknownAnswer(
            "UnstorableValue", f"the answer is {size:,} characters as JSON, over {MAX_FACT_CHARS:,}"
        )
    return converted


def _converted(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {
            _converted(key, f"{where} (a key)"): _converted(item, f"{where}.{key}".lstrip("."))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_converted(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _unstorable(where, "is not Unicode text (a lone surrogate)") from None
        return value
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise _unstorable(where, "is an integer too large to store")
        if isinstance(value, float) and not math.isfinite(value):
            # JSON cannot carry it, and no AWS setting is infinite
            raise UnknownAnswer(
                "ImpossibleValue", f"{where or 'the answer'} is {value!r}, not a finite number"
            )
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise _unstorable(where, f"is a {type(value).__name__}, which a report cannot hold")


#: Integers up to 1,000 digits; Python refuses to write one of more than 4,300.
MAX_INT_BITS = 3322


def _unstorable(where: str, problem: str) -> UnknownAnswer:
    return UnknownAnswer("UnstorableValue", f"{where or 'the answer'} {problem}")


def read_fact(spec: FactSpec, context: FetchContext) -> FactOutcome:
    """Fetch once and classify the answer: value, not configured (None), resource
    missing, or error with its code, with how long it took. Never raises."""
    started = time.perf_counter()
    outcome = _classified(spec, context, datetime.now(UTC).isoformat())
    return replace(outcome, seconds=round(time.perf_counter() - started, 6))


def _classified(spec: FactSpec, context: FetchContext, fetched_at: str) -> FactOutcome:

    def failed(code: str, message: str) -> FactOutcome:
        error = AwsError(storable_text(code), storable_text(message))
        return FactOutcome(spec, error=error, fetched_at=fetched_at)

    try:
        answer = spec.fetch(context)
        if isinstance(answer, Answered):  # the evidence names the call that answered
            spec, fetched_at = replace(spec, actions=answer.actions), answer.fetched_at
            answer = answer.value
        value = jsonable(answer)
    except ClientError as exc:
        code, message = aws_error(exc)
        if code in spec.absent_codes:
            return FactOutcome(spec, value=None, fetched_at=fetched_at)
        if spec.scope != "account" and code in spec.resource_type.missing_codes:
            return FactOutcome(spec, resource_missing=True, fetched_at=fetched_at)
        return failed(code, message)
    except ResourceMissing:
        return FactOutcome(spec, resource_missing=True, fetched_at=fetched_at)
    except BotoCoreError as exc:
        return failed(type(exc).__name__, str(exc))
    except Exception as exc:  # fail closed: an unreadable answer is an error, never a pass
        return failed(getattr(exc, "code", type(exc).__name__), str(exc))
    return FactOutcome(spec, value=value, fetched_at=fetched_at)


def with_dependencies(requests: dict[FactKey, FactRequest]) -> dict[FactKey, FactRequest]:
    """The requests and every fact they depend on, each once."""
    complete = dict(requests)
    pending = list(requests.items())
    while pending:
        key, request = pending.pop()
        for spec in request.spec.depends_on:
            dependency = fact_key(key.account_id, key.region, spec, request.name, request.parent)
            if dependency not in complete:
                complete[dependency] = FactRequest(spec, request.name, request.parent)
                pending.append((dependency, complete[dependency]))
    return complete


def _inherited(spec: FactSpec, dependencies: list[FactOutcome]) -> FactOutcome | None:
    """A dependent fact is missing or unreadable when what it depends on is."""
    for outcome in dependencies:
        if outcome.resource_missing:
            return FactOutcome(spec, resource_missing=True, fetched_at=outcome.fetched_at)
        if outcome.error:
            return FactOutcome(spec, error=outcome.error, fetched_at=outcome.fetched_at)
    return None


def too_late(spec: FactSpec, deadline: Deadline) -> FactOutcome:
    """The outcome of a fact the deadline left unread: an error, never a value."""
    return FactOutcome(
        spec,
        error=AwsError("DeadlineReached", deadline.message),
        fetched_at=datetime.now(UTC).isoformat(),
    )


class ServiceThrottle:
    """Submits fetches to the pool with at most ``caps[service]`` in flight per (account,
    region, service), so that one service's rate limit is not hit while the pool's other
    workers serve other services. Work over a cap waits in order, holding no thread."""

    def __init__(self, pool: DaemonPool, caps: ServiceCaps) -> None:
        self._pool = pool
        self._caps = caps
        self._lock = threading.Lock()
        self._running: Counter[tuple[str, ...]] = Counter()
        self._waiting: dict[tuple[str, ...], deque[tuple[Future[Any], Callable[[], Any]]]] = {}

    def submit(self, lane: tuple[str, str, str], work: Callable[[], Any]) -> Future[Any]:
        """Run ``work`` when ``lane`` (account, region, service) has room."""
        cap = self._caps.get(lane[2], self._caps.get("*"))
        if cap is None:
            return self._pool.submit(work)
        future: Future[Any] = Future()
        with self._lock:
            self._waiting.setdefault(lane, deque()).append((future, work))
        self._start_waiting(lane, cap)
        return future

    def _start_waiting(self, lane: tuple[str, ...], cap: int) -> None:
        while True:
            with self._lock:
                queue = self._waiting[lane]
                while queue and queue[0][0].cancelled():  # given up (the deadline)
                    queue.popleft()
                if self._running[lane] >= cap or not queue:
                    return
                future, work = queue.popleft()
                self._running[lane] += 1
            try:
                started = self._pool.submit(work)
            except RuntimeError:  # the pool is shutting down (interrupted)
                future.cancel()
                return
            started.add_done_callback(partial(self._finished, lane, cap, future))

    def _finished(
        self, lane: tuple[str, ...], cap: int, future: Future[Any], done: Future[Any]
    ) -> None:
        with self._lock:
            self._running[lane] -= 1
        if done.cancelled():
            future.cancel()
        elif future.set_running_or_notify_cancel():  # False: given up while it ran
            if (error := done.exception()) is not None:
                future.set_exception(error)
            else:
                future.set_result(done.result())
        self._start_waiting(lane, cap)


def service_of(spec: FactSpec) -> str:
    """The AWS service a fact's fetch calls (the prefix of its first IAM action)."""
    return spec.action.split(":", 1)[0]


def collect(
    requests: dict[FactKey, FactRequest],
    clients_for: ClientsFor,
    *,
    max_workers: int,
    service_caps: ServiceCaps | None = None,
    progress: ProgressCallback | None = None,
    deadline: Deadline = NO_DEADLINE,
    memo: Memo | None = None,
) -> dict[FactKey, FactOutcome]:
    """Fetch every requested fact (and what it depends on) once, ``max_workers`` at a
    time and at most ``service_caps`` per service, in dependency waves, sharing lookups
    through ``memo``. At the deadline, every fact not yet read is an error and it returns
    at once; interrupted, it cancels what has not started."""
    everything = with_dependencies(requests)
    outcomes: dict[FactKey, FactOutcome] = {}
    with Fetcher(
        clients_for,
        max_workers=max_workers,
        service_caps=service_caps,
        deadline=deadline,
        progress=progress,
        total=len(everything),
        memo=memo,
    ) as fetcher:
        fetcher.fetch(everything, {}, outcomes.update)
    return outcomes


Done = Callable[[Mapping[FactKey, FactOutcome]], None]


class _Batch(Mapping[FactKey, FactOutcome]):
    """Facts fetched together (one subject's): read wave after wave of dependencies; when
    every one is settled, ``done`` gets the batch, a mapping of its outcomes and the
    known ones."""

    def __init__(
        self,
        requests: dict[FactKey, FactRequest],
        known: Mapping[FactKey, FactOutcome],
        done: Done,
    ) -> None:
        self.requests = requests
        self.known = known
        self.done = done
        self.outcomes: dict[FactKey, FactOutcome] = {}
        self.waves = fact_order(request.spec for request in requests.values())
        self.started: dict[FactKey, Future[Any]] = {}

    def __getitem__(self, key: FactKey) -> FactOutcome:
        return self.outcomes[key] if key in self.outcomes else self.known[key]

    def __iter__(self) -> Iterator[FactKey]:
        return iter({**self.known, **self.outcomes})

    def __len__(self) -> int:
        return len(self.known.keys() | self.outcomes.keys())

    def __hash__(self) -> int:  # batches are kept in a set while open
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class Fetcher:
    """Reads batches of facts concurrently as they are given, each fact by one call (see
    read_fact), ``max_workers`` calls at a time and at most ``service_caps`` per service;
    each batch's ``done`` runs in the thread that gives batches and waits (``fetch``,
    ``wait_for_room``, leaving the ``with`` block), so batches are judged while later
    ones are read. At the deadline every fact not yet read is an error; calls in flight
    are abandoned; interrupted, what has not started is cancelled."""

    def __init__(
        self,
        clients_for: ClientsFor,
        *,
        max_workers: int,
        service_caps: ServiceCaps | None = None,
        deadline: Deadline = NO_DEADLINE,
        progress: ProgressCallback | None = None,
        total: int = 0,
        memo: Memo | None = None,
    ) -> None:
        self.clients_for = clients_for
        self.deadline = deadline
        self.progress = progress
        self.total = total
        self.memo = memo or Memo()
        self.settled = 0
        self._pool = DaemonPool(max_workers)
        self._throttle = ServiceThrottle(self._pool, service_caps or {})
        self._events: SimpleQueue[tuple[_Batch, FactKey, Future[Any]]] = SimpleQueue()
        self._open: set[_Batch] = set()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            while self._open:
                self._take_events()
            self._pool.shutdown(wait=not self.deadline.passed(), cancel_futures=True)
        else:  # interrupted: stop what has not started, abandon the rest
            self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def in_flight(self) -> int:
        """Facts started and not yet settled."""
        return sum(len(batch.started) for batch in self._open)

    def fetch(
        self, requests: dict[FactKey, FactRequest], known: Mapping[FactKey, FactOutcome], done: Done
    ) -> None:
        """Read ``requests`` (their dependencies among them or in ``known``)."""
        batch = _Batch(requests, known, done)
        self._open.add(batch)
        self._advance(batch)

    def wait_for_room(self, limit: int) -> None:
        """Settle what comes in until fewer than ``limit`` facts are in flight."""
        while self._open and self.in_flight >= limit:
            self._take_events()

    def _advance(self, batch: _Batch) -> None:
        """Start the batch's next wave (settling at once what need not be read); once all
        is settled, hand it over."""
        while not batch.started and batch.waves:
            names = {spec.name for spec in batch.waves.pop(0)}
            for key, request in batch.requests.items():
                if key.fact in names:
                    self._start(batch, key, request)
        if not batch.started and not batch.waves:
            self._open.discard(batch)
            batch.done(batch)

    def _start(self, batch: _Batch, key: FactKey, request: FactRequest) -> None:
        dependencies = {
            spec.name: batch[
                fact_key(key.account_id, key.region, spec, request.name, request.parent)
            ]
            for spec in request.spec.depends_on
        }
        inherited = _inherited(request.spec, list(dependencies.values()))
        if inherited or self.deadline.passed():
            self._settle(batch, key, inherited or too_late(request.spec, self.deadline))
            return
        context = FetchContext(
            name=request.name,
            account_id=key.account_id,
            region=key.region,
            parent=request.parent,
            client=self.clients_for(key.location),
            deps={name: outcome.value for name, outcome in dependencies.items()},
            memo=self.memo.get,
            known=self.memo.known,
        )
        lane = (key.account_id, key.region, service_of(request.spec))
        future = self._throttle.submit(lane, partial(read_fact, request.spec, context))
        batch.started[key] = future
        future.add_done_callback(lambda done: self._events.put((batch, key, done)))

    def _settle(self, batch: _Batch, key: FactKey, outcome: FactOutcome) -> None:
        batch.outcomes[key] = outcome
        self.settled += 1
        if self.progress:
            self.progress(self.settled, max(self.total, self.settled))

    def _take_events(self) -> None:
        """Settle the facts read (waiting for one, at most until the deadline); at the
        deadline, every fact not read."""
        try:
            events = [self._events.get(timeout=self.deadline.remaining())]
        except Empty:
            self._give_up()
            return
        while not self._events.empty():
            events.append(self._events.get())
        for batch, key, future in events:
            if batch.started.pop(key, None) is None:
                continue  # given up at the deadline already
            if future.cancelled():
                self._settle(batch, key, too_late(batch.requests[key].spec, self.deadline))
            else:
                self._settle(batch, key, future.result())
            if not batch.started:
                self._advance(batch)

    def _give_up(self) -> None:
        """The deadline: every fact in flight is an error, its call abandoned."""
        for batch in list(self._open):
            for key, future in batch.started.items():
                future.cancel()
                self._settle(batch, key, too_late(batch.requests[key].spec, self.deadline))
            batch.started.clear()
            self._advance(batch)
