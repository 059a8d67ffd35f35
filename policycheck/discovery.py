"""Resources named by pattern (``mcp-oauth-storage-*-{env}``) are discovered at run time
with paginated list calls, each listing read once per account, region (and cluster)."""

import threading
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from policycheck.deadline import DeadlineReached
from policycheck.errors import InputError, aws_error

#: The largest page each list API allows.
PAGE_SIZES = {
    "s3_bucket": 1000,
    "dynamodb_table": 100,
    "ecr_repository": 1000,
    "ssm_parameter": 50,
    "ecs_service": 100,
}
#: List calls by resource type, for the IAM policy.
LIST_ACTIONS = {
    "s3_bucket": "s3:ListAllMyBuckets",
    "dynamodb_table": "dynamodb:ListTables",
    "ecr_repository": "ecr:DescribeRepositories",
    "ssm_parameter": "ssm:DescribeParameters",
    "ecs_service": "ecs:ListServices",
}
WILDCARDS = ("*", "?")


def is_pattern(name: str) -> bool:
    """Whether a resource name is a glob to discover rather than a name."""
    return any(ch in name for ch in WILDCARDS)


def _literal_prefix(pattern: str) -> str:
    return pattern[
        : min((pattern.index(ch) for ch in WILDCARDS if ch in pattern), default=len(pattern))
    ]


def _pages(client: Any, operation: str, page_size: int, **request: Any) -> Any:
    return client.get_paginator(operation).paginate(
        **request, PaginationConfig={"PageSize": page_size}
    )


def list_names(
    client: Callable[[str], Any],
    resource_type: str,
    pattern: str,
    parent: str = "",
    page_size: int | None = None,
    region: str = "",
) -> list[str]:
    """Every name of ``resource_type`` the account holds (S3: in ``region``), all pages,
    then the ones matching ``pattern``."""
    size = page_size or PAGE_SIZES.get(resource_type, 0)
    if resource_type == "s3_bucket":
        # Bucket names are global, buckets regional: list only the region's, so that an
        # environment in several regions sees each bucket once. Without MaxBuckets,
        # ListBuckets returns every bucket (up to the 10,000 quota); the paginator still
        # follows a continuation token should AWS send one. (moto ignores MaxBuckets'
        # continuation, which would cut the listing short.)
        where = {"BucketRegion": region} if region else {}
        pages = client("s3").get_paginator("list_buckets").paginate(**where)
        names = [b["Name"] for page in pages for b in page.get("Buckets", [])]
    elif resource_type == "dynamodb_table":
        pages = _pages(client("dynamodb"), "list_tables", size)
        names = [name for page in pages for name in page["TableNames"]]
    elif resource_type == "ecr_repository":
        pages = _pages(client("ecr"), "describe_repositories", size)
        names = [r["repositoryName"] for page in pages for r in page["repositories"]]
    elif resource_type == "ssm_parameter":
        prefix = _literal_prefix(pattern)
        filters = [{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}] if prefix else []
        pages = _pages(client("ssm"), "describe_parameters", size, ParameterFilters=filters)
        names = [p["Name"] for page in pages for p in page["Parameters"]]
    elif resource_type == "ecs_service":
        pages = _pages(client("ecs"), "list_services", size, cluster=parent)
        names = [arn.rsplit("/", 1)[-1] for page in pages for arn in page["serviceArns"]]
    else:
        raise InputError(f"{resource_type} cannot be discovered by pattern")
    return sorted(name for name in names if fnmatchcase(name, pattern))


class DiscoveryFailed(Exception):
    """A list call failed: the pattern's resources are unknown."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Discovery:
    """Lists once per (account, region, type, cluster; SSM: name prefix) and matches
    patterns against the listing."""

    def __init__(self) -> None:
        self._listings: dict[tuple[str, ...], list[str] | DiscoveryFailed] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}

    def names(
        self,
        location: tuple[str, str],
        client: Callable[[str], Any],
        resource_type: str,
        pattern: str,
        parent: str = "",
    ) -> list[str]:
        """Names matching ``pattern``; raises DiscoveryFailed if the listing failed."""
        scope = _literal_prefix(pattern) if resource_type == "ssm_parameter" else "*"
        key = (*location, resource_type, parent, scope)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            self._list_once(key, client, resource_type, scope, parent)
        listing = self._listings[key]
        if isinstance(listing, DiscoveryFailed):
            raise listing
        return [name for name in listing if fnmatchcase(name, pattern)]

    def _list_once(
        self,
        key: tuple[str, ...],
        client: Callable[[str], Any],
        resource_type: str,
        scope: str,
        parent: str,
    ) -> None:
        if key not in self._listings:
            try:
                self._listings[key] = list_names(
                    client, resource_type, scope + "*", parent, region=key[1]
                )
            except ClientError as exc:
                self._listings[key] = DiscoveryFailed(*aws_error(exc))
            except BotoCoreError as exc:
                self._listings[key] = DiscoveryFailed(type(exc).__name__, str(exc))
            except DeadlineReached as exc:
                self._listings[key] = DiscoveryFailed(DeadlineReached.code, str(exc))
