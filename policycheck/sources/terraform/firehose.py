"""Firehose facts from a plan: every ``aws_kinesis_firehose_delivery_stream`` of the
plans for an account and region, with every S3 location it writes to, in the shape of
``policycheck.sources.aws.firehose`` (``delivery``: primary, intermediate or backup).

The plans show only their streams: a stream managed elsewhere that also writes to the
bucket is judged by the live audit."""

from typing import Any

from policycheck.plugin.plans import PlanReader
from policycheck.sources.terraform.common import Subject
from policycheck.sources.terraform.s3 import BUCKET
from policycheck.sources.terraform.state import Node, PlanState

STREAM = "aws_kinesis_firehose_delivery_stream"
#: destination -> (destination type as the API names it, its configuration block).
DESTINATIONS = {
    "extended_s3": ("ExtendedS3", "extended_s3_configuration"),
    "s3": ("S3", "s3_configuration"),
    "redshift": ("Redshift", "redshift_configuration"),
    "http_endpoint": ("HttpEndpoint", "http_endpoint_configuration"),
    "splunk": ("Splunk", "splunk_configuration"),
    "elasticsearch": ("Elasticsearch", "elasticsearch_configuration"),
    "opensearch": ("AmazonopensearchService", "opensearch_configuration"),
    "opensearchserverless": ("AmazonOpenSearchServerless", "opensearchserverless_configuration"),
    "snowflake": ("Snowflake", "snowflake_configuration"),
    "iceberg": ("Iceberg", "iceberg_configuration"),
}


def streams(state: PlanState, subject: Subject) -> Any:
    return [_stream(stream.node) for stream in state.of_type(STREAM)]


FIREHOSE_STREAMS = PlanReader(fact="s3_account.firehose_streams", read=streams)


def _stream(stream: Node) -> dict[str, Any]:
    sse = stream.first("server_side_encryption")
    encryption = None
    if sse is not None:
        enabled = sse.flag("enabled")
        encryption = {"Status": "ENABLED" if enabled else "DISABLED"}
        if enabled and sse.optional("key_type"):
            encryption["KeyType"] = sse.get("key_type")
    return {
        "name": stream.get("name"),
        "status": "ACTIVE",
        "encryption": encryption,
        "s3_destinations": _locations(stream),
    }


def _locations(stream: Node) -> list[dict[str, Any]]:
    destination = stream.get("destination")
    kind, block = DESTINATIONS.get(destination, (str(destination), f"{destination}_configuration"))
    config = stream.first(block)
    if config is None:
        return []
    mode = config.get("s3_backup_mode")
    if kind in ("ExtendedS3", "S3"):
        locations = [_location(config, "primary", kind)]
        backup = config.first("s3_backup_configuration")
        if backup is not None and mode == "Enabled":
            locations.append(_location(backup, "backup", kind, mode))
        return locations
    s3 = config.first("s3_configuration")
    locations = []
    if s3 is not None:
        delivery = "intermediate" if kind == "Redshift" else "backup"
        locations.append(_location(s3, delivery, kind, None if kind == "Redshift" else mode))
    backup = config.first("s3_backup_configuration")
    if backup is not None and kind == "Redshift" and mode == "Enabled":
        locations.append(_location(backup, "backup", kind, mode))
    return locations


def _location(s3: Node, delivery: str, kind: str, mode: str | None = None) -> dict[str, Any]:
    key = _key_arn(s3)
    return {
        "delivery": delivery,
        "destination_type": kind,
        "BucketARN": _bucket_arn(s3),
        "BufferingHints": {
            "IntervalInSeconds": s3.get("buffering_interval"),
            "SizeInMBs": s3.get("buffering_size"),
        },
        "EncryptionConfiguration": (
            {"KMSEncryptionConfig": {"AWSKMSKeyARN": key}}
            if key
            else {"NoEncryptionConfig": "NoEncryption"}
        ),
        "S3BackupMode": mode,
    }


def _bucket_arn(s3: Node) -> Any:
    """The bucket's ARN; when it is known only after apply (a bucket the plan creates), from
    the name of the aws_s3_bucket it refers to."""
    if s3.unknown("bucket_arn"):
        bucket = s3.resolve("bucket_arn", to=BUCKET)
        if bucket is not None:
            return f"arn:aws:s3:::{bucket.get('bucket')}"
    return s3.get("bucket_arn")


def _key_arn(s3: Node) -> Any:
    """The KMS key; when known only after apply, an aws_kms_key the plan creates."""
    if s3.unknown("kms_key_arn"):
        key = s3.resolve("kms_key_arn", to="aws_kms_key")
        if key is not None:
            return key.node.optional("arn") or f"{key.address}.arn (known after apply)"
    return s3.get("kms_key_arn")
