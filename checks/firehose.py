"""Firehose checks: audit logs are delivered to their bucket often and encrypted."""

import math
import re
from typing import Any

from pydantic import Field

from policycheck.plugin.check import RESOURCE, CheckParams, Facts, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples

#: S3 backup modes that send every record to the backup bucket.
EVERY_RECORD_MODES = frozenset({"Enabled", "AllData", "AllDocuments", "AllEvents"})
#: S3 backup modes that send nothing to the backup bucket.
NO_RECORD_MODES = frozenset({"Disabled"})
BUCKET_ARN = re.compile(r"arn:[^:]+:s3:::(?P<bucket>[^/]+)/?")


def _delivery_stream(interval: int | str) -> Call:
    """A stream delivering to the bucket, encrypted, flushing every ``interval`` s or 5 MB."""
    return Call(
        "firehose",
        "create_delivery_stream",
        {
            "DeliveryStreamName": "{name}-delivery",
            "DeliveryStreamType": "DirectPut",
            "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
            "ExtendedS3DestinationConfiguration": {
                "RoleARN": "arn:aws:iam::{account_id}:role/firehose-audit",
                "BucketARN": "arn:aws:s3:::{name}",
                "BufferingHints": {
                    "IntervalInSeconds": interval,
                    "SizeInMBs": "{params.max_size_mb}",
                },
                "EncryptionConfiguration": {
                    "KMSEncryptionConfig": {
                        "AWSKMSKeyARN": "arn:aws:kms:{region}:{account_id}:alias/aws/s3"
                    }
                },
            },
        },
    )


class DeliveryParams(CheckParams):
    max_interval_seconds: int = Field(60, ge=0, description="Longest buffering interval.")
    max_size_mb: int = Field(5, ge=1, description="Largest buffer size.")
    require_encryption: bool = Field(True, description="The stream must be encrypted.")


def _bucket_of(arn: Any) -> str | None:
    """The bucket an S3 ARN names, in any partition (``arn:aws-cn:s3:::b`` is ``b``)."""
    match = BUCKET_ARN.fullmatch(arn) if isinstance(arn, str) else None
    return match["bucket"] if match else None


def _writes(location: dict[str, Any]) -> bool:
    """Whether records reach this S3 location at all. A backup whose mode is unknown
    counts as writing (fail closed)."""
    return not (
        location.get("delivery") == "backup" and location.get("S3BackupMode") in NO_RECORD_MODES
    )


def _writes_every_record(location: dict[str, Any]) -> bool:
    """Whether every record of the stream reaches this location: the primary S3
    destination, Redshift's intermediate bucket, or a backup of all records. A backup of
    failed records only, or a location of unknown use, does not deliver the logs."""
    delivery = location.get("delivery", "primary")
    if delivery in ("primary", "intermediate"):
        return True
    return delivery == "backup" and location.get("S3BackupMode") in EVERY_RECORD_MODES


def _label(stream: dict[str, Any], location: dict[str, Any]) -> str:
    name = stream["name"]
    delivery = location.get("delivery", "primary")
    if delivery == "primary":
        return f"stream {name}"
    kind = location.get("destination_type") or "?"
    if delivery == "backup":
        return f"stream {name} ({kind} S3 backup, {location.get('S3BackupMode') or 'mode unknown'})"
    return f"stream {name} ({kind} {delivery} S3 location)"


def _encrypted(stream: dict[str, Any], destination: dict[str, Any]) -> bool:
    """Server-side encryption of the stream, or KMS encryption at the S3 destination."""
    stream_sse = stream.get("encryption") or {}
    at_destination = (destination.get("EncryptionConfiguration") or {}).get("KMSEncryptionConfig")
    return stream_sse.get("Status") == "ENABLED" or bool(at_destination)


#: A Lambda processor's buffer where its parameters do not set one (Firehose developer
#: guide, "Transform source data": 60 s or 1 MB by default, up to 900 s and 3 MB).
LAMBDA_BUFFER_DEFAULTS = {"BufferIntervalInSeconds": "60", "BufferSizeInMBs": "1"}


def _lambda_buffers(destination: dict[str, Any]) -> list[dict[str, float | str]]:
    """The buffer of each Lambda processor records pass through before the destination's
    own buffer (a value that is not a number is kept as written)."""
    processing = destination.get("ProcessingConfiguration") or {}
    if processing.get("Enabled") is False:
        return []
    buffers = []
    for processor in processing.get("Processors") or []:
        if processor.get("Type") != "Lambda":
            continue
        given = {
            p.get("ParameterName"): p.get("ParameterValue")
            for p in processor.get("Parameters") or []
        }
        buffers.append(
            {
                name: _number(given.get(name, default))
                for name, default in LAMBDA_BUFFER_DEFAULTS.items()
            }
        )
    return buffers


def _number(value: Any) -> float | str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) and number >= 0 else str(value)


def _stream_problems(
    stream: dict[str, Any], destination: dict[str, Any], params: DeliveryParams
) -> list[str]:
    hints = destination.get("BufferingHints") or {}
    interval, size = hints.get("IntervalInSeconds"), hints.get("SizeInMBs")
    label = _label(stream, destination)
    problems = []
    if stream.get("status") != "ACTIVE":
        problems.append(f"stream {stream['name']} is {stream.get('status') or 'of unknown state'}")
    lambdas = _lambda_buffers(destination)
    unreadable = [v for b in lambdas for v in b.values() if isinstance(v, str)]
    if unreadable:
        problems.append(f"{label}'s Lambda processor buffers {unreadable[0]!r}, not a number")
    waited = 0.0 if unreadable else sum(float(b["BufferIntervalInSeconds"]) for b in lambdas)
    if interval is None or interval + waited > params.max_interval_seconds:
        after = f" after {waited:g} s in its Lambda processor" if waited else ""
        problems.append(f"{label} buffers {interval} s{after}")
    if not unreadable and any(float(b["BufferSizeInMBs"]) > params.max_size_mb for b in lambdas):
        problems.append(f"{label}'s Lambda processor buffers more than {params.max_size_mb} MB")
    if size is None or size > params.max_size_mb:
        problems.append(f"{label} buffers {size} MB")
    if params.require_encryption and not _encrypted(stream, destination):
        problems.append(f"{label} is not encrypted")
    return problems


@check(
    id="firehose-delivers-to-audit-bucket",
    passes="a delivery stream delivers every record to the bucket (S3/Extended S3 destination, "
    "Redshift staging bucket, or S3 backup of all records), and every stream that writes "
    "anything there, S3 backups of failed records included, is active, buffers ≤ 60 s and "
    "≤ 5 MB (a Lambda processor's buffer, 60 s by default, adds to the delay), and is "
    "encrypted",
    examples=Examples(
        compliant=(_delivery_stream("{params.max_interval_seconds}"),),
        deviation=Deviation("buffers 300 s before delivering", (_delivery_stream(300),)),
    ),
    title="Firehose delivers audit logs to the bucket at least every 60 s or 5 MB, encrypted",
    resource_type="s3_bucket",
    severity="medium",
    facts=("s3_account.firehose_streams",),
    remediation=(
        "Point the audit delivery stream at {name} with BufferingHints IntervalInSeconds<=60, "
        "SizeInMBs<=5 and server-side encryption enabled; give every stream that writes to "
        "{name} (S3 backups included) the same buffering and encryption"
    ),
    params=DeliveryParams,
)
def delivers_to_bucket(facts: Facts, params: DeliveryParams) -> Verdict:
    """At least one delivery stream delivers every record to the bucket (its S3 or Extended
    S3 destination, Redshift's intermediate bucket, or an S3 backup of all records), and
    every stream that writes anything to the bucket, S3 backups of failed records only
    included, is active, buffers no longer than ``max_interval_seconds`` and no more than
    ``max_size_mb`` for that location, and is encrypted. A Lambda processor buffers records
    (``BufferIntervalInSeconds``, ``BufferSizeInMBs``; 60 s and 1 MB by default) before the
    destination's buffer: its interval adds to the delay. A backup of failed records only
    does not by itself count as delivering the logs. Buckets are matched by name, in any
    ARN partition."""
    bucket = facts[RESOURCE]["name"]
    writers = [
        (stream, destination)
        for stream in facts["s3_account.firehose_streams"] or []
        for destination in stream.get("s3_destinations", [])
        if _bucket_of(destination.get("BucketARN")) == bucket and _writes(destination)
    ]
    expected = {
        "BufferingHints": {
            "IntervalInSeconds": f"<= {params.max_interval_seconds}",
            "SizeInMBs": f"<= {params.max_size_mb}",
        },
        "encrypted": params.require_encryption,
        "delivers": "every record, from at least one stream",
    }
    expected_text = (
        f"a stream delivering every {params.max_interval_seconds} s or {params.max_size_mb} MB"
        + (", encrypted" if params.require_encryption else "")
    )
    observed = [
        {
            "stream": stream["name"],
            "StreamStatus": stream.get("status"),
            **destination,
            "StreamEncryption": stream.get("encryption"),
        }
        for stream, destination in writers
    ]
    if not writers:
        return judge(
            False,
            "no delivery stream writes to this bucket",
            expected_text,
            expected=expected,
            observed=observed,
        )
    problems = [p for stream, dest in writers for p in _stream_problems(stream, dest, params)]
    deliverers = sorted({stream["name"] for stream, dest in writers if _writes_every_record(dest)})
    if not deliverers:
        partial = ", ".join(_label(stream, dest) for stream, dest in writers)
        problems.insert(
            0, f"no delivery stream delivers every record to this bucket (only {partial})"
        )
    text = "; ".join(dict.fromkeys(problems)) or (
        f"{', '.join(deliverers)} deliver within {params.max_interval_seconds} s / "
        f"{params.max_size_mb} MB" + (", encrypted" if params.require_encryption else "")
    )
    return judge(not problems, text, expected_text, expected=expected, observed=observed)
