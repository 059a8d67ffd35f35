"""Firehose checks: audit logs are delivered to their bucket often and encrypted."""

from typing import Any

from pydantic import Field

from policycheck.registry import RESOURCE, CheckParams, Facts, Verdict, check, judge


class DeliveryParams(CheckParams):
    max_interval_seconds: int = Field(60, ge=0, description="Longest buffering interval.")
    max_size_mb: int = Field(5, ge=1, description="Largest buffer size.")
    require_encryption: bool = Field(True, description="The stream must be encrypted.")


def _encrypted(stream: dict[str, Any], destination: dict[str, Any]) -> bool:
    """Server-side encryption of the stream, or KMS encryption at the S3 destination."""
    stream_sse = stream.get("encryption") or {}
    at_destination = (destination.get("EncryptionConfiguration") or {}).get("KMSEncryptionConfig")
    return stream_sse.get("Status") == "ENABLED" or bool(at_destination)


def _stream_problems(
    stream: dict[str, Any], destination: dict[str, Any], params: DeliveryParams
) -> list[str]:
    hints = destination.get("BufferingHints") or {}
    interval, size = hints.get("IntervalInSeconds"), hints.get("SizeInMBs")
    name = stream["name"]
    problems = []
    if stream.get("status") not in (None, "ACTIVE"):
        problems.append(f"stream {name} is {stream['status']}")
    if interval is None or interval > params.max_interval_seconds:
        problems.append(f"stream {name} buffers {interval} s")
    if size is None or size > params.max_size_mb:
        problems.append(f"stream {name} buffers {size} MB")
    if params.require_encryption and not _encrypted(stream, destination):
        problems.append(f"stream {name} is not encrypted")
    return problems


@check(
    id="firehose-delivers-to-audit-bucket",
    title="Firehose delivers audit logs to the bucket at least every 60 s or 5 MB, encrypted",
    resource_type="s3_bucket",
    severity="medium",
    facts=("s3_account.firehose_streams",),
    remediation=(
        "Point the audit delivery stream at {name} with BufferingHints IntervalInSeconds<=60, "
        "SizeInMBs<=5 and server-side encryption enabled"
    ),
    params=DeliveryParams,
)
def delivers_to_bucket(facts: Facts, params: DeliveryParams) -> Verdict:
    """At least one delivery stream writes to the bucket, and every stream that does is
    active, buffers no longer than ``max_interval_seconds`` and no more than
    ``max_size_mb``, and is encrypted."""
    bucket_arn = facts[RESOURCE]["arn"]
    writers = [
        (stream, destination)
        for stream in facts["s3_account.firehose_streams"] or []
        for destination in stream.get("s3_destinations", [])
        if destination.get("BucketARN") == bucket_arn
    ]
    expected = {
        "BufferingHints": {
            "IntervalInSeconds": f"<= {params.max_interval_seconds}",
            "SizeInMBs": f"<= {params.max_size_mb}",
        },
        "encrypted": params.require_encryption,
    }
    expected_text = (
        f"a stream delivering every {params.max_interval_seconds} s or {params.max_size_mb} MB"
        + (", encrypted" if params.require_encryption else "")
    )
    observed = [
        {"stream": stream["name"], **destination, "StreamEncryption": stream.get("encryption")}
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
    names = ", ".join(sorted({stream["name"] for stream, _ in writers}))
    text = "; ".join(
        problems
    ) or f"{names} deliver within {params.max_interval_seconds} s / {params.max_size_mb} MB" + (
        ", encrypted" if params.require_encryption else ""
    )
    return judge(not problems, text, expected_text, expected=expected, observed=observed)
