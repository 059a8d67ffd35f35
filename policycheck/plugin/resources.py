"""Resource types: everything policycheck knows about a kind of resource, declared once by
its collector module: how it is named and addressed, how it is listed when a policy names
it by pattern, what "it does not exist" looks like, and how the demo creates one."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from policycheck.plugin.examples import Call


@dataclass(frozen=True)
class ListingScope:
    """Where a listing looks: the region, the parent (an ECS cluster) and, for types
    listed by name prefix, the pattern's literal prefix."""

    region: str
    parent: str = ""
    prefix: str = ""


@dataclass(frozen=True)
class Listing:
    """How a type's resources are listed, all pages, to match name patterns at run time."""

    #: The IAM action the listing needs.
    action: str
    service: str
    #: A paginated operation.
    operation: str
    #: The key of each page that holds the items.
    items: str
    #: The key of an item that holds its name; None: items are names; "arn": items are
    #: ARNs whose last segment is the name.
    name: str | None = None
    #: The largest page the API allows (None: the API pages by itself).
    page_size: int | None = None
    #: Request parameters for a scope (a region filter, a cluster, a name prefix).
    request: Callable[[ListingScope], Mapping[str, Any]] = field(default=lambda scope: {})
    #: One listing per literal prefix of the pattern instead of one per location.
    by_prefix: bool = False
    #: The key of an item that names the region its resource is in (ListBuckets'
    #: ``BucketRegion``): discovery keeps what the answer says (see ListedRegions; of a
    #: type listed by prefix, the location's first listing).
    region: str | None = None

    def name_of(self, item: Any) -> str:
        if self.name is None:
            return str(item)
        if self.name == "arn":
            return str(item).rsplit("/", 1)[-1]
        return str(item[self.name])

    def region_of(self, item: Any) -> str | None:
        """The region the item names, None where the answer does not say (moto's
        ListBuckets leaves ``BucketRegion`` out; the request's region filter says nothing
        about an item)."""
        value = item.get(self.region) if self.region and isinstance(item, dict) else None
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class ListedRegions:
    """The regions one listing's answer named (``Listing.region``), by resource name, with
    the listing's action and when it was made. Discovery keeps it in the run's memo under
    ``key``, so that a fact of a listed resource reads its region there, with no request
    of its own."""

    regions: Mapping[str, str]
    action: str
    listed_at: str

    @staticmethod
    def key(resource_type: str, account_id: str, region: str, parent: str = "") -> tuple[str, ...]:
        """The memo key of a type's listing in one location (and parent)."""
        return ("listed-regions", resource_type, account_id, region, parent)


@dataclass(frozen=True)
class ResourceType:
    """A kind of resource a policy can name."""

    name: str
    label: str
    #: Error codes meaning the resource itself does not exist.
    missing_codes: frozenset[str]
    #: Placeholders: {name} {region} {account_id} {parent} {path} (name without leading /).
    arn_template: str
    #: What the parent is called, for types that live inside another resource.
    parent_label: str | None = None
    #: None: the type cannot be named by pattern.
    listing: Listing | None = None
    #: The calls that create one in the demo's simulated account (see examples).
    example: tuple[Call, ...] = ()
    #: The longest name AWS allows for one (None: no limit), and for its parent.
    max_name_length: int | None = None
    max_parent_length: int | None = None

    def arn(self, name: str, region: str, account_id: str, parent: str = "") -> str:
        """The resource's ARN (or URN, for resources outside AWS)."""
        return self.arn_template.format(
            name=name,
            region=region,
            account_id=account_id,
            parent=parent,
            path=name.lstrip("/"),
        )


@dataclass(frozen=True, order=True)
class ResourceRef:
    """One concrete resource in one environment."""

    type: ResourceType = field(compare=False)
    name: str
    region: str
    account_id: str
    parent: str = ""
    #: The name pattern's values, e.g. {"env": "dev", "mcp": "teams", "region": "…"}.
    variables: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def arn(self) -> str:
        return self.type.arn(self.name, self.region, self.account_id, self.parent)

    @property
    def label(self) -> str:
        where = f" in {self.type.parent_label} {self.parent}" if self.type.parent_label else ""
        return f"{self.type.label} {self.name}{where}"
