"""The yardstick: a minimal boto3 scanner making exactly the floor's calls (one per needed
fact, the three list calls and the account fact) at a given concurrency. No verdicts."""

import argparse
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from policycheck.aws import keep_endpoint_host

REGION = "eu-central-1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--buckets", type=int, required=True)
    parser.add_argument("--tables", type=int, required=True)
    parser.add_argument("--repos", type=int, required=True)
    parser.add_argument("--max-workers", type=int, default=16)
    args = parser.parse_args()
    config = Config(
        retries={"total_max_attempts": 9, "mode": "adaptive"},
        max_pool_connections=max(10, args.max_workers),
    )
    session = boto3.Session(region_name=REGION)

    def client(service: str):
        return session.client(service, endpoint_url=args.endpoint_url, config=config)

    s3, ddb, ecr, s3control = client("s3"), client("dynamodb"), client("ecr"), client("s3control")
    s3control.meta.events.register("before-sign.s3-control", keep_endpoint_host(args.endpoint_url))
    account = client("sts").get_caller_identity()["Account"]
    buckets = [
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("bench-bucket-")
    ]
    tables = [t for t in ddb.list_tables()["TableNames"] if t.startswith("bench-table-")]
    repos = [
        r["repositoryName"]
        for r in ecr.describe_repositories()["repositories"]
        if r["repositoryName"].startswith("bench-repo-")
    ]
    calls = [(s3control.get_public_access_block, {"AccountId": account})]
    for name in buckets:
        calls += [
            (op, {"Bucket": name})
            for op in (
                s3.get_bucket_versioning,
                s3.get_bucket_encryption,
                s3.get_public_access_block,
                s3.get_bucket_lifecycle_configuration,
                s3.get_bucket_policy,
            )
        ]
    for name in tables:
        calls += [
            (op, {"TableName": name})
            for op in (ddb.describe_continuous_backups, ddb.describe_time_to_live)
        ]
    for name in repos:
        calls += [
            (ecr.get_lifecycle_policy, {"repositoryName": name}),
            (ecr.describe_images, {"repositoryName": name, "filter": {"tagStatus": "TAGGED"}}),
        ]

    def call(item):
        operation, params = item
        try:
            return operation(**params)
        except ClientError as exc:
            return exc.response

    with ThreadPoolExecutor(args.max_workers) as pool:
        list(pool.map(call, calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
