"""Examples as data: the AWS calls that configure a resource so a check passes, and the
deviation each check exists to catch. The demo seeds a simulated account from them, the
end-to-end tests prove each deviation fails exactly its check, and the README's check
table quotes them; nothing here calls AWS.

Arguments are templates. A string that is exactly one placeholder (``"{params.days}"``)
becomes that value with its type; any other string has its placeholders formatted in.
Placeholders: ``name``, ``parent``, ``region``, ``account_id``, ``env``, ``mcp``, ``arn``,
``params`` (the check's parameters) and what the seeder computes (see
``policycheck.demo.seeding.SEEDED``).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Json:
    """An argument the API takes as a JSON string (a bucket or IAM policy document)."""

    document: Any


@dataclass(frozen=True)
class Call:
    """One API call: ``client(service).operation(**args)``. ``ignore`` lists error codes
    that mean "already so" (creating what exists); ``region`` sends it elsewhere."""

    service: str
    operation: str
    args: Mapping[str, Any] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    region: str = "{region}"


@dataclass(frozen=True)
class Deviation:
    """A configuration the check must fail: ``calls`` replace the compliant calls on the
    resource; ``at_creation`` overrides arguments of its creation (settings AWS fixes when
    a resource is made, such as a table's key), ``created_in`` the region it is made in."""

    why: str
    calls: tuple[Call, ...] = ()
    at_creation: Mapping[str, Any] = field(default_factory=dict)
    #: A region (template) the resource is created in instead of its environment's.
    created_in: str = ""


@dataclass(frozen=True)
class Examples:
    """What a check accepts and what it catches, on one resource."""

    compliant: tuple[Call, ...] = ()
    deviation: Deviation = Deviation("(none)")
    #: Creation arguments the compliant configuration needs.
    at_creation: Mapping[str, Any] = field(default_factory=dict)


NO_EXAMPLES = Examples()
