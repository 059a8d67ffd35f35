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


class IncompleteAnswer(Exception):
    """An answer that cannot be complete (a listing that stops making progress): the fact
    is unknown. ``code`` becomes the error's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


#: Destination types whose ``S3DestinationDescription`` receives every record before it
#: is loaded (Firehose stages data in S3 and Redshift COPYs it from there).
STAGING_S3 = frozenset({"Redshift"})
#: The fields of an S3 location the check judges.
S3_LOCATION_KEYS = ("BucketARN", "BufferingHints", "EncryptionConfiguration")


def _s3_locations(destination: dict[str, Any]) -> list[dict[str, Any]]:
    """Every S3 location one destination of a stream writes to, labelled by ``delivery``:

    - ``primary``: the S3 or Extended S3 destination itself (every record);
    - ``intermediate``: Redshift's staging bucket (every record, before the COPY);
    - ``backup``: the S3 backup of another destination type (HTTP endpoint, Splunk,
      OpenSearch, Elasticsearch, Snowflake, Iceberg, Redshift) or of the Extended S3
      destination's source records, with its ``S3BackupMode`` (all or failed records);
    - ``other``: an S3 bucket named anywhere else in the description (use unknown).

    AWS repeats an Extended S3 destination as ``S3DestinationDescription``: an identical
    repeat is listed once."""
    locations: list[dict[str, Any]] = []
    seen: set[int] = set()

    def add(delivery: str, kind: str, s3: dict[str, Any], mode: str | None = None) -> None:
        seen.add(id(s3))
        entry = {
            "delivery": delivery,
            "destination_type": kind,
            **{key: s3.get(key) for key in S3_LOCATION_KEYS},
            "S3BackupMode": mode,
        }
        if not any(
            {**entry, "destination_type": None} == {**known, "destination_type": None}
            for known in locations
        ):
            locations.append(entry)

    # Extended S3 before its plain-S3 repeat, so the repeat is the one dropped.
    keys = sorted(
        (key for key in destination if key.endswith("DestinationDescription")),
        key=lambda key: key != "ExtendedS3DestinationDescription",
    )
    for key in keys:
        description = destination[key]
        if not isinstance(description, dict):
            continue
        kind = key.removesuffix("DestinationDescription")
        mode = description.get("S3BackupMode")
        if kind in ("S3", "ExtendedS3"):
            add("primary", kind, description)
        elif isinstance(description.get("S3DestinationDescription"), dict):
            s3 = description["S3DestinationDescription"]
            if kind in STAGING_S3:
                add("intermediate", kind, s3)
            else:
                add("backup", kind, s3, mode)
        if isinstance(description.get("S3BackupDescription"), dict):
            add("backup", kind, description["S3BackupDescription"], mode)

    def other(value: Any, kind: str) -> None:
        if isinstance(value, dict):
            if "BucketARN" in value and id(value) not in seen:
                add("other", kind, value)
            for item in value.values():
                other(item, kind)
        elif isinstance(value, list):
            for item in value:
                other(item, kind)

    for key in keys:
        other(destination[key], key.removesuffix("DestinationDescription"))
    return locations


def _stream_names(firehose: Any) -> list[str]:
    """Every delivery stream name, page by page. A page that says more follow but brings
    no new name would repeat forever (or drop the rest): the listing is unknown."""
    names: dict[str, None] = {}  # ordered, each name once
    request: dict[str, Any] = {"Limit": 100}
    while True:
        page = firehose.list_delivery_streams(**request)
        fresh = [name for name in page["DeliveryStreamNames"] if name not in names]
        names.update(dict.fromkeys(fresh))
        if not page.get("HasMoreDeliveryStreams"):
            return list(names)
        if not fresh:
            raise IncompleteAnswer(
                "ListingIncomplete",
                "ListDeliveryStreams says more streams follow but returned no new name after "
                f"{request.get('ExclusiveStartDeliveryStreamName')!r}",
            )
        request["ExclusiveStartDeliveryStreamName"] = page["DeliveryStreamNames"][-1]


def _describe_stream(firehose: Any, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A stream's description and all its destinations (the call pages destinations). A
    stream that cannot be described makes the whole fact an error: it may write to any
    bucket."""
    request: dict[str, Any] = {"DeliveryStreamName": name}
    destinations: list[dict[str, Any]] = []
    while True:
        description = firehose.describe_delivery_stream(**request)["DeliveryStreamDescription"]
        page = description.get("Destinations") or []
        known = {d.get("DestinationId") for d in destinations}
        fresh = [d for d in page if d.get("DestinationId") not in known]
        destinations += fresh
        if not description.get("HasMoreDestinations"):
            return description, destinations
        if not fresh:
            raise IncompleteAnswer(
                "ListingIncomplete",
                f"DescribeDeliveryStream {name} says more destinations follow but "
                "returned no new one",
            )
        request["ExclusiveStartDestinationId"] = fresh[-1]["DestinationId"]


def _firehose_streams(ctx: FetchContext) -> list[dict[str, Any]]:
    """Every delivery stream of the account and region (any state, any source type), with
    every S3 location it writes to (see _s3_locations)."""
    firehose = ctx.client("firehose")
    streams = []
    for name in _stream_names(firehose):
        description, destinations = _describe_stream(firehose, name)
        streams.append(
            {
                "name": name,
                "status": description.get("DeliveryStreamStatus"),
                "encryption": description.get("DeliveryStreamEncryptionConfiguration"),
                "s3_destinations": [
                    location
                    for destination in destinations
                    for location in _s3_locations(destination)
                ],
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
