"""S3 facts: bucket versioning, encryption, public-access block, lifecycle, policy,
replication; the account-level public-access block; Firehose streams that write to S3."""

import json
from typing import Any

from botocore.exceptions import ClientError

from policycheck.facts import FactSpec, FetchContext, register_fact


def _versioning(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("s3").get_bucket_versioning(Bucket=ctx.name)
    # A bucket that never had versioning answers with neither key.
    return {key: response[key] for key in ("Status", "MFADelete") if key in response}


def _encryption(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("s3").get_bucket_encryption(Bucket=ctx.name)
    return response["ServerSideEncryptionConfiguration"]


def _public_access_block(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("s3").get_public_access_block(Bucket=ctx.name)
    return response["PublicAccessBlockConfiguration"]


def _lifecycle(ctx: FetchContext) -> list[dict[str, Any]]:
    return ctx.client("s3").get_bucket_lifecycle_configuration(Bucket=ctx.name)["Rules"]


def _policy(ctx: FetchContext) -> dict[str, Any]:
    return json.loads(ctx.client("s3").get_bucket_policy(Bucket=ctx.name)["Policy"])


def _replication(ctx: FetchContext) -> dict[str, Any]:
    return ctx.client("s3").get_bucket_replication(Bucket=ctx.name)["ReplicationConfiguration"]


def _replication_destinations(ctx: FetchContext) -> list[dict[str, Any]]:
    """Region and versioning of every bucket an enabled replication rule writes to."""
    configuration = ctx.deps["s3_bucket.replication"] or {}
    arns = sorted(
        {
            rule["Destination"]["Bucket"]
            for rule in configuration.get("Rules", [])
            if rule.get("Status") == "Enabled" and "Destination" in rule
        }
    )
    s3 = ctx.client("s3")
    destinations = []
    for arn in arns:
        bucket = arn.removeprefix("arn:aws:s3:::")
        try:
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
            versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
            destinations.append({"bucket": bucket, "exists": False})
            continue
        destinations.append(
            {
                "bucket": bucket,
                "exists": True,
                "region": location or "us-east-1",
                "versioning": versioning,
            }
        )
    return destinations


def _account_public_access_block(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("s3control").get_public_access_block(AccountId=ctx.account_id)
    return response["PublicAccessBlockConfiguration"]


def _firehose_streams(ctx: FetchContext) -> list[dict[str, Any]]:
    """Every delivery stream of the account and region, with its S3 destinations."""
    firehose = ctx.client("firehose")
    names: list[str] = []
    request: dict[str, Any] = {"Limit": 100}
    while True:
        page = firehose.list_delivery_streams(**request)
        names += page["DeliveryStreamNames"]
        if not page.get("HasMoreDeliveryStreams") or not page["DeliveryStreamNames"]:
            break
        request["ExclusiveStartDeliveryStreamName"] = page["DeliveryStreamNames"][-1]
    streams = []
    for name in names:
        description = firehose.describe_delivery_stream(DeliveryStreamName=name)[
            "DeliveryStreamDescription"
        ]
        destinations = []
        for destination in description.get("Destinations", []):
            s3 = destination.get("ExtendedS3DestinationDescription") or destination.get(
                "S3DestinationDescription"
            )
            if s3:
                destinations.append(
                    {
                        key: s3.get(key)
                        for key in ("BucketARN", "BufferingHints", "EncryptionConfiguration")
                    }
                )
        streams.append(
            {
                "name": name,
                "status": description.get("DeliveryStreamStatus"),
                "encryption": description.get("DeliveryStreamEncryptionConfiguration"),
                "s3_destinations": destinations,
            }
        )
    return streams


NO_PUBLIC_ACCESS_BLOCK = frozenset({"NoSuchPublicAccessBlockConfiguration"})


def _bucket_fact(name: str, action: str, fetch: Any, absent: str | None = None) -> FactSpec:
    return register_fact(
        FactSpec(
            name,
            "s3_bucket",
            (action,),
            fetch,
            absent_codes=frozenset({absent}) if absent else frozenset(),
        )
    )


VERSIONING = _bucket_fact("s3_bucket.versioning", "s3:GetBucketVersioning", _versioning)
ENCRYPTION = _bucket_fact(
    "s3_bucket.encryption",
    "s3:GetEncryptionConfiguration",
    _encryption,
    "ServerSideEncryptionConfigurationNotFoundError",
)
PUBLIC_ACCESS_BLOCK = _bucket_fact(
    "s3_bucket.public_access_block",
    "s3:GetBucketPublicAccessBlock",
    _public_access_block,
    "NoSuchPublicAccessBlockConfiguration",
)
LIFECYCLE = _bucket_fact(
    "s3_bucket.lifecycle",
    "s3:GetLifecycleConfiguration",
    _lifecycle,
    "NoSuchLifecycleConfiguration",
)
POLICY = _bucket_fact("s3_bucket.policy", "s3:GetBucketPolicy", _policy, "NoSuchBucketPolicy")
REPLICATION = _bucket_fact(
    "s3_bucket.replication",
    "s3:GetReplicationConfiguration",
    _replication,
    "ReplicationConfigurationNotFoundError",
)
REPLICATION_DESTINATIONS = register_fact(
    FactSpec(
        "s3_bucket.replication_destinations",
        "s3_bucket",
        ("s3:GetBucketLocation", "s3:GetBucketVersioning"),
        _replication_destinations,
        depends_on=("s3_bucket.replication",),
    )
)
ACCOUNT_PUBLIC_ACCESS_BLOCK = register_fact(
    FactSpec(
        "s3_account.public_access_block",
        "s3_bucket",
        ("s3:GetAccountPublicAccessBlock",),
        _account_public_access_block,
        scope="account",
        absent_codes=NO_PUBLIC_ACCESS_BLOCK,
    )
)
FIREHOSE_STREAMS = register_fact(
    FactSpec(
        "s3_account.firehose_streams",
        "s3_bucket",
        ("firehose:ListDeliveryStreams", "firehose:DescribeDeliveryStream"),
        _firehose_streams,
        scope="account",
    )
)
