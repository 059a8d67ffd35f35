"""Fetch facts concurrently, each at most once per resource per run."""

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from policycheck.aws import Connection
from policycheck.facts import AwsError, FactOutcome, FactSpec
from policycheck.resources import RESOURCE_TYPES

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class FactKey:
    """Identifies one fetch: a fact of a resource (or of an account) in an account and
    region. Environments that share an account share its facts."""

    account_id: str
    region: str
    fact: str
    #: The resource's name; empty for account-scoped facts.
    resource: str

    @property
    def location(self) -> tuple[str, str]:
        return self.account_id, self.region


def fact_key(account_id: str, region: str, spec: FactSpec, resource_name: str) -> FactKey:
    """The key under which a check finds a fact about a resource."""
    resource = "" if spec.scope == "account" else resource_name
    return FactKey(account_id, region, spec.name, resource)


def jsonable(value: Any) -> Any:
    """AWS responses with datetimes and bytes turned into JSON-ready values."""
    return json.loads(json.dumps(value, default=_encode))


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot encode {type(value).__name__}")


def read_fact(spec: FactSpec, client: Any, resource_name: str, account_id: str) -> FactOutcome:
    """Call the fact's API once and classify the answer: value, not configured (None),
    resource missing, or error with the AWS error code. Never raises."""
    fetched_at = datetime.now(UTC).isoformat()
    try:
        value = spec.fetch(client, resource_name, account_id)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(
            error.get("Code")
            or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown")
        )
        if code in spec.absent_codes:
            return FactOutcome(spec, value=None, fetched_at=fetched_at)
        if spec.scope == "resource" and code in RESOURCE_TYPES[spec.resource_type].missing_codes:
            return FactOutcome(spec, resource_missing=True, fetched_at=fetched_at)
        message = str(error.get("Message") or exc)
        return FactOutcome(spec, error=AwsError(code, message), fetched_at=fetched_at)
    except BotoCoreError as exc:
        return FactOutcome(
            spec, error=AwsError(type(exc).__name__, str(exc)), fetched_at=fetched_at
        )
    except Exception as exc:  # fail closed: an unreadable answer is an error, never a pass
        return FactOutcome(
            spec, error=AwsError(type(exc).__name__, str(exc)), fetched_at=fetched_at
        )
    return FactOutcome(spec, value=jsonable(value), fetched_at=fetched_at)


def collect(
    requests: dict[FactKey, FactSpec],
    connections: dict[tuple[str, str], Connection],
    *,
    max_workers: int,
    progress: ProgressCallback | None = None,
) -> dict[FactKey, FactOutcome]:
    """Fetch every requested fact once, ``max_workers`` at a time, each through the
    connection of its (account, region). Interrupted, it cancels what has not started."""
    # Clients are created here, on one thread, before the workers share them.
    clients = {
        key: connections[key.location].client(spec.service) for key, spec in requests.items()
    }
    outcomes: dict[FactKey, FactOutcome] = {}
    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="fact")
    try:
        futures = {
            pool.submit(read_fact, spec, clients[key], key.resource, key.account_id): key
            for key, spec in requests.items()
        }
        for done, future in enumerate(as_completed(futures), start=1):
            outcomes[futures[future]] = future.result()
            if progress:
                progress(done, len(futures))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return outcomes
