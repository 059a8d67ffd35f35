"""The yardstick: a minimal boto3 scanner making exactly the floor's calls (one per needed
fact, the list calls, every page, and the account fact) at a given concurrency. No
verdicts."""

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from policycheck.engine.aws import keep_endpoint_host

REGION = "eu-central-1"

#: The floor's reads of one resource, by kind: (service, operation, extra parameters);
#: the name goes in the parameter ``NAME_PARAMETER[kind]``. bench/fleet.py records the
#: synthetic fleet's template answers with the same calls.
READS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "bucket": [
        ("s3", "get_bucket_versioning", {}),
        ("s3", "get_bucket_encryption", {}),
        ("s3", "get_public_access_block", {}),
        ("s3", "get_bucket_lifecycle_configuration", {}),
        ("s3", "get_bucket_policy", {}),
    ],
    "table": [
        ("dynamodb", "describe_continuous_backups", {}),
        ("dynamodb", "describe_time_to_live", {}),
    ],
    "repo": [
        ("ecr", "get_lifecycle_policy", {}),
        ("ecr", "describe_images", {"filter": {"tagStatus": "TAGGED"}, "maxResults": 1000}),
    ],
}
NAME_PARAMETER = {"bucket": "Bucket", "table": "TableName", "repo": "repositoryName"}


def read_calls(clients: dict[str, Any], kind: str, name: str) -> list[tuple[Any, dict[str, Any]]]:
    """The floor's calls for one resource: (bound operation, parameters)."""
    return [
        (getattr(clients[service], operation), {NAME_PARAMETER[kind]: name, **extra})
        for service, operation, extra in READS[kind]
    ]


def listed(clients: dict[str, Any], region: str, prefix: str) -> dict[str, list[str]]:
    """The names of each kind starting with ``prefix``, every page listed (the pages as
    policycheck asks for them)."""

    def names(service: str, operation: str, items: str, key: str | None, **args: Any) -> list[str]:
        pages = clients[service].get_paginator(operation).paginate(**args)
        found = [item[key] if key else item for page in pages for item in page.get(items, [])]
        return [name for name in found if name.startswith(prefix)]

    return {
        "bucket": names(
            "s3",
            "list_buckets",
            "Buckets",
            "Name",
            BucketRegion=region,
            PaginationConfig={"PageSize": 10000},
        ),
        "table": names(
            "dynamodb", "list_tables", "TableNames", None, PaginationConfig={"PageSize": 100}
        ),
        "repo": names(
            "ecr",
            "describe_repositories",
            "repositories",
            "repositoryName",
            PaginationConfig={"PageSize": 1000},
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--prefix", default="bench-", help="names of the fleet start with it")
    args = parser.parse_args()
    config = Config(
        retries={"total_max_attempts": 9, "mode": "adaptive"},
        max_pool_connections=max(10, args.max_workers),
    )
    session = boto3.Session(region_name=REGION)
    clients = {
        service: session.client(service, endpoint_url=args.endpoint_url, config=config)
        for service in ("s3", "dynamodb", "ecr", "s3control", "sts")
    }
    clients["s3control"].meta.events.register(
        "before-sign.s3-control", keep_endpoint_host(args.endpoint_url)
    )
    account = clients["sts"].get_caller_identity()["Account"]
    calls: list[tuple[Any, dict[str, Any]]] = [
        (clients["s3control"].get_public_access_block, {"AccountId": account})
    ]
    for kind, names in listed(clients, REGION, args.prefix).items():
        for name in names:
            calls += read_calls(clients, kind, name)

    def call(item: tuple[Any, dict[str, Any]]) -> Any:
        operation, params = item
        try:
            return operation(**params)
        except ClientError as exc:
            return exc.response

    with ThreadPoolExecutor(args.max_workers) as pool:
        for _ in pool.map(call, calls):  # answers dropped as they come
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
