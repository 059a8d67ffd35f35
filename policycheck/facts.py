"""Facts: named pieces of AWS configuration, each read by exactly one API action.

Collectors (``policycheck.collectors``) declare facts; checks name the facts they need.
A fact is fetched at most once per resource per run, however many checks need it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

FactScope = Literal["resource", "account"]

#: fetch(client, resource_name, account_id) -> value. May raise botocore errors.
Fetcher = Callable[[Any, str, str], Any]


@dataclass(frozen=True)
class FactSpec:
    """How to read one fact."""

    name: str
    #: The resource type the fact describes; account-scoped facts describe the account
    #: but are needed by checks of this resource type.
    resource_type: str
    service: str
    #: The IAM action the API call needs, e.g. ``s3:GetBucketVersioning``.
    action: str
    fetch: Fetcher
    scope: FactScope = "resource"
    #: AWS error codes meaning "this configuration is not set": the fact's value is None.
    absent_codes: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class AwsError:
    """An API failure that leaves a fact unknown."""

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
    """Add a fact to the registry; names are unique."""
    if spec.name in FACTS:
        raise ValueError(f"fact {spec.name!r} registered twice")
    FACTS[spec.name] = spec
    return spec


def all_facts() -> dict[str, FactSpec]:
    """Every registered fact, by name."""
    import policycheck.collectors  # noqa: F401  (registers the facts)

    return FACTS
