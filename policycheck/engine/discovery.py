"""Resources named by pattern (``mcp-oauth-storage-*-{env}``) are discovered at run time
with the paginated list call their type declares, each listing read once per account,
region (and cluster, or name prefix)."""

import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from policycheck.deadline import DeadlineReached
from policycheck.engine.fetching import jsonable
from policycheck.errors import aws_error
from policycheck.plugin.facts import Memo, UnknownAnswer
from policycheck.plugin.resources import ListedRegions, Listing, ListingScope, ResourceType
from policycheck.policy.templates import literal_prefix, matching


def list_items(
    client: Callable[[str], Any],
    listing: Listing,
    scope: ListingScope,
    page_size: int | None = None,
) -> Iterator[Any]:
    """Every item the listing finds in ``scope``, all pages, as they come. ``page_size``
    overrides the listing's (tests use tiny pages)."""
    size = page_size or listing.page_size
    pages = (
        client(listing.service)
        .get_paginator(listing.operation)
        .paginate(
            **listing.request(scope), **({"PaginationConfig": {"PageSize": size}} if size else {})
        )
    )
    return (item for page in pages for item in jsonable(page).get(listing.items, []))


def list_names(
    client: Callable[[str], Any],
    listing: Listing,
    scope: ListingScope,
    page_size: int | None = None,
) -> list[str]:
    """Every name the listing finds in ``scope``, all pages, sorted."""
    return sorted(listing.name_of(item) for item in list_items(client, listing, scope, page_size))


def _names_and_regions(listing: Listing, items: Iterable[Any]) -> tuple[list[str], dict[str, str]]:
    """The items' names, sorted, and the regions the items name (``Listing.region``)."""
    names, regions = [], {}
    for item in items:
        names.append(name := listing.name_of(item))
        if region := listing.region_of(item):
            regions[name] = sys.intern(region)  # a few regions, many buckets
    return sorted(names), regions


class DiscoveryFailed(Exception):
    """A list call failed: the pattern's resources are unknown."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Discovery:
    """Lists once per (account, region, type, cluster; by-prefix types: name prefix) and
    matches patterns against the listing. The regions a listing's answer names
    (``Listing.region``) go into ``memo``, the run's, for its facts (see ListedRegions)."""

    def __init__(self, memo: Memo | None = None) -> None:
        self._memo = memo or Memo()
        self._listings: dict[tuple[str, ...], list[str] | DiscoveryFailed] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}

    def names(
        self,
        location: tuple[str, str],
        client: Callable[[str], Any],
        resource_type: ResourceType,
        pattern: str,
        parent: str = "",
    ) -> list[str]:
        """Names matching ``pattern``; raises DiscoveryFailed if the listing failed."""
        listing = resource_type.listing
        if listing is None:  # refused when the policy is loaded
            raise DiscoveryFailed("NotListable", f"a {resource_type.name} cannot be listed")
        prefix = literal_prefix(pattern) if listing.by_prefix else ""
        scope = ListingScope(region=location[1], parent=parent, prefix=prefix)
        key = (*location, resource_type.name, parent, prefix)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._listings:
                regions_key = ListedRegions.key(resource_type.name, *location, parent)
                self._listings[key] = self._list(client, listing, scope, regions_key)
        listed = self._listings[key]
        if isinstance(listed, DiscoveryFailed):
            raise listed
        return matching(listed, pattern)

    def _list(
        self,
        client: Callable[[str], Any],
        listing: Listing,
        scope: ListingScope,
        regions_key: tuple[str, ...],
    ) -> list[str] | DiscoveryFailed:
        """The names listed, or why not; the regions the answer named kept in the memo
        under ``regions_key``."""
        listed_at = datetime.now(UTC).isoformat()
        listed = _listed(client, listing, scope)
        if isinstance(listed, DiscoveryFailed):
            return listed
        names, regions = listed
        if listing.region:
            answer = ListedRegions(regions, listing.action, listed_at)
            self._memo.get(regions_key, lambda: answer)
        return names


def _listed(
    client: Callable[[str], Any], listing: Listing, scope: ListingScope
) -> tuple[list[str], dict[str, str]] | DiscoveryFailed:
    try:
        return _names_and_regions(listing, list_items(client, listing, scope))
    except ClientError as exc:
        return DiscoveryFailed(*aws_error(exc))
    except BotoCoreError as exc:
        return DiscoveryFailed(type(exc).__name__, str(exc))
    except DeadlineReached as exc:
        return DiscoveryFailed(DeadlineReached.code, str(exc))
    except UnknownAnswer as exc:
        return DiscoveryFailed(exc.code, f"{listing.operation}: {exc}")
