"""firehose-delivers-to-audit-bucket: every S3 location a stream writes to the bucket,
primary or backup, is judged; the fact s3_account.firehose_streams finds them all."""

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from policycheck.engine.fetching import read_fact
from policycheck.plugin.facts import FactOutcome, FetchContext
from policycheck.plugin.registry import load_registry
from support.checks import judge, moto_clients
from support.faults import Fault

CHECK = "firehose-delivers-to-audit-bucket"
ACCOUNT, REGION = "123456789012", "eu-central-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/firehose"
KMS = {"KMSEncryptionConfig": {"AWSKMSKeyARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"}}
PLAIN = {"NoEncryptionConfig": "NoEncryption"}


# --- the check, on facts shaped as the collector records them ---------------------------


def _location(
    delivery: str = "primary",
    kind: str = "ExtendedS3",
    mode: str | None = None,
    bucket: str = "bucket",
    interval: int | None = 60,
    size: int | None = 5,
    encryption: dict | None = None,
    arn: str | None = None,
) -> dict:
    return {
        "delivery": delivery,
        "destination_type": kind,
        "BucketARN": arn or f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": size},
        "EncryptionConfiguration": KMS if encryption is None else encryption,
        "S3BackupMode": mode,
    }


def _stream(name: str, *locations: dict, status: str | None = "ACTIVE", sse: Any = None) -> dict:
    return {"name": name, "status": status, "encryption": sse, "s3_destinations": list(locations)}


def _judge(*streams: dict, **params: Any):
    return judge(CHECK, {"s3_account.firehose_streams": list(streams)}, **params)


GOOD = _stream("audit", _location())
#: The expert's example: an HTTP endpoint stream backing up every record to the bucket,
#: buffering 900 s / 128 MB, unencrypted.
SLOW_HTTP_BACKUP = _stream(
    "siem",
    _location("primary", bucket="elsewhere"),
    _location("backup", "HttpEndpoint", "AllData", interval=900, size=128, encryption=PLAIN),
)


def test_a_compliant_primary_stream_passes() -> None:
    verdict = _judge(GOOD)
    assert verdict.passed
    assert verdict.message == "audit deliver within 60 s / 5 MB, encrypted"


def test_a_slow_unencrypted_s3_backup_to_the_bucket_fails() -> None:
    verdict = _judge(GOOD, SLOW_HTTP_BACKUP)
    assert not verdict.passed
    for said in (
        "stream siem (HttpEndpoint S3 backup, AllData) buffers 900 s",
        "stream siem (HttpEndpoint S3 backup, AllData) buffers 128 MB",
        "stream siem (HttpEndpoint S3 backup, AllData) is not encrypted",
    ):
        assert said in verdict.message
    assert [o["stream"] for o in verdict.observed] == ["audit", "siem"]
    assert verdict.observed[1]["delivery"] == "backup"


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        ("HttpEndpoint", "AllData"),
        ("Splunk", "AllEvents"),
        ("Amazonopensearchservice", "AllDocuments"),
        ("AmazonOpenSearchServerless", "AllDocuments"),
        ("Elasticsearch", "AllDocuments"),
        ("Snowflake", "AllData"),
        ("Iceberg", "AllData"),
        ("ExtendedS3", "Enabled"),
        ("Redshift", "Enabled"),
    ],
)
def test_a_backup_of_every_record_delivers(kind: str, mode: str) -> None:
    stream = _stream("s", _location("backup", kind, mode))
    verdict = _judge(stream)
    assert verdict.passed, verdict.message
    slow = _stream("s", _location("backup", kind, mode, interval=61))
    assert f"stream s ({kind} S3 backup, {mode}) buffers 61 s" in _judge(slow).message


@pytest.mark.parametrize(
    ("kind", "mode"),
    [
        ("HttpEndpoint", "FailedDataOnly"),
        ("Splunk", "FailedEventsOnly"),
        ("Amazonopensearchservice", "FailedDocumentsOnly"),
        ("Snowflake", "FailedDataOnly"),
        ("Iceberg", "FailedDataOnly"),
    ],
)
def test_a_backup_of_failed_records_only_is_judged_but_delivers_nothing(
    kind: str, mode: str
) -> None:
    alone = _judge(_stream("s", _location("backup", kind, mode)))
    assert not alone.passed
    assert alone.message.startswith(
        "no delivery stream delivers every record to this bucket "
        f"(only stream s ({kind} S3 backup, {mode}))"
    )
    # Beside a stream that delivers everything, a compliant one is fine ...
    assert _judge(GOOD, _stream("s", _location("backup", kind, mode))).passed
    # ... and a slow or unencrypted one still fails: it writes audit data there.
    slow = _stream("s", _location("backup", kind, mode, interval=900, encryption=PLAIN))
    verdict = _judge(GOOD, slow)
    assert not verdict.passed
    assert f"stream s ({kind} S3 backup, {mode}) buffers 900 s" in verdict.message
    assert f"stream s ({kind} S3 backup, {mode}) is not encrypted" in verdict.message


def test_a_disabled_backup_writes_nothing() -> None:
    disabled = _stream("s", _location("backup", "ExtendedS3", "Disabled", interval=900))
    assert _judge(GOOD, disabled).passed
    assert _judge(disabled).message.startswith("no delivery stream writes to this bucket")


def test_a_backup_of_unknown_mode_is_judged_and_not_credited() -> None:
    unknown = _stream("s", _location("backup", "Future", None, interval=900))
    verdict = _judge(GOOD, unknown)
    assert not verdict.passed
    assert "stream s (Future S3 backup, mode unknown) buffers 900 s" in verdict.message
    assert not _judge(_stream("s", _location("backup", "Future", None))).passed


def test_redshift_intermediate_bucket_receives_every_record() -> None:
    stream = _stream("rs", _location("intermediate", "Redshift"))
    assert _judge(stream).passed
    slow = _stream("rs", _location("intermediate", "Redshift", size=6))
    assert "stream rs (Redshift intermediate S3 location) buffers 6 MB" in _judge(slow).message


def test_an_s3_location_of_unknown_use_is_judged_and_not_credited() -> None:
    other = _stream("s", _location("other", "Iceberg", interval=300))
    assert not _judge(other).passed
    assert "stream s (Iceberg other S3 location) buffers 300 s" in _judge(GOOD, other).message


def test_buffering_boundary_applies_to_backups() -> None:
    at = _stream("s", _location("backup", "HttpEndpoint", "FailedDataOnly", interval=60, size=5))
    assert _judge(GOOD, at).passed
    for over in ({"interval": 61}, {"size": 6}, {"interval": None}):
        location = _location("backup", "HttpEndpoint", "FailedDataOnly", **over)
        assert not _judge(GOOD, _stream("s", location)).passed


def test_stream_encryption_covers_a_backup_location() -> None:
    sse = {"KeyType": "AWS_OWNED_CMK", "Status": "ENABLED"}
    stream = _stream("s", _location("backup", "Splunk", "AllEvents", encryption=PLAIN), sse=sse)
    assert _judge(stream).passed
    assert _judge(stream, require_encryption=False).passed
    plain = _stream("s", _location("backup", "Splunk", "AllEvents", encryption=PLAIN))
    assert _judge(plain, require_encryption=False).passed


@pytest.mark.parametrize("status", ["CREATING", "CREATING_FAILED", "DELETING", None])
def test_a_stream_that_is_not_active_fails(status: str | None) -> None:
    verdict = _judge(_stream("audit", _location(), status=status))
    assert not verdict.passed
    assert f"stream audit is {status or 'of unknown state'}" in verdict.message
    backup = _stream("s", _location("backup", "HttpEndpoint", "FailedDataOnly"), status=status)
    assert not _judge(GOOD, backup).passed


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_the_bucket_is_matched_by_name_in_any_partition(partition: str) -> None:
    slow = _stream("s", _location(arn=f"arn:{partition}:s3:::bucket", interval=900))
    assert "stream s buffers 900 s" in _judge(GOOD, slow).message


@pytest.mark.parametrize(
    "arn", ["arn:aws:s3:::bucket-2", "arn:aws:s3:::bucke", "arn:aws:s3:::other", "bucket"]
)
def test_other_buckets_do_not_count(arn: str) -> None:
    verdict = _judge(_stream("s", _location(arn=arn)))
    assert verdict.message.startswith("no delivery stream writes to this bucket")


def test_no_stream_fails() -> None:
    for streams in ([], None):
        verdict = judge(CHECK, {"s3_account.firehose_streams": streams})
        assert not verdict.passed
        assert verdict.message.startswith("no delivery stream writes to this bucket")


# --- the collector against moto --------------------------------------------------------


def _clients(url: str) -> Any:
    return moto_clients(url, REGION)


def _read(client: Callable[[str], Any]) -> FactOutcome:
    context = FetchContext("", ACCOUNT, REGION, "", client)
    return read_fact(load_registry().facts["s3_account.firehose_streams"], context)


def _s3(bucket: str, interval: int = 60, size: int = 5, kms: bool = True) -> dict:
    return {
        "RoleARN": ROLE,
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": size},
        "EncryptionConfiguration": KMS if kms else PLAIN,
    }


def _seed(firehose: Any) -> None:
    """The compliant audit stream and, beside it, streams of every type moto creates that
    write to the audit bucket as S3 backup or staging."""
    firehose.create_delivery_stream(
        DeliveryStreamName="audit", ExtendedS3DestinationConfiguration=_s3("audit")
    )
    slow = _s3("audit", interval=900, size=128, kms=False)
    firehose.create_delivery_stream(
        DeliveryStreamName="siem",
        HttpEndpointDestinationConfiguration={
            "EndpointConfiguration": {"Url": "https://siem.example.com"},
            "S3BackupMode": "AllData",
            "S3Configuration": slow,
        },
    )
    firehose.create_delivery_stream(
        DeliveryStreamName="search",
        ElasticsearchDestinationConfiguration={
            "RoleARN": ROLE,
            "DomainARN": f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs",
            "IndexName": "logs",
            "S3BackupMode": "FailedDocumentsOnly",
            "S3Configuration": _s3("audit"),
        },
    )
    firehose.create_delivery_stream(
        DeliveryStreamName="warehouse",
        RedshiftDestinationConfiguration={
            "RoleARN": ROLE,
            "ClusterJDBCURL": "jdbc:redshift://cluster:5439/db",
            "CopyCommand": {"DataTableName": "logs"},
            "Username": "loader",
            "Password": "not-a-secret",
            "S3Configuration": _s3("staging"),
            "S3BackupMode": "Enabled",
            "S3BackupConfiguration": _s3("audit"),
        },
    )
    firehose.create_delivery_stream(
        DeliveryStreamName="raw",
        ExtendedS3DestinationConfiguration={
            **_s3("transformed"),
            "S3BackupMode": "Enabled",
            "S3BackupConfiguration": _s3("audit", interval=300),
        },
    )


def test_collector_records_every_s3_location_with_its_delivery(moto) -> None:
    client = _clients(moto.url)
    _seed(client("firehose"))
    outcome = _read(client)
    assert outcome.error is None
    locations = {
        stream["name"]: [
            (
                d["delivery"],
                d["destination_type"],
                d["BucketARN"].rsplit(":", 1)[-1],
                d["S3BackupMode"],
            )
            for d in stream["s3_destinations"]
        ]
        for stream in outcome.value
    }
    assert locations == {
        # The Extended S3 destination's plain-S3 repeat is listed once.
        "audit": [("primary", "ExtendedS3", "audit", None)],
        "siem": [("backup", "HttpEndpoint", "audit", "AllData")],
        "search": [("backup", "Elasticsearch", "audit", "FailedDocumentsOnly")],
        "warehouse": [
            ("intermediate", "Redshift", "staging", None),
            ("backup", "Redshift", "audit", "Enabled"),
        ],
        "raw": [
            ("primary", "ExtendedS3", "transformed", None),
            ("backup", "ExtendedS3", "audit", "Enabled"),
        ],
    }
    siem = next(stream for stream in outcome.value if stream["name"] == "siem")
    assert siem["status"] == "ACTIVE"
    assert siem["s3_destinations"][0]["BufferingHints"] == {
        "IntervalInSeconds": 900,
        "SizeInMBs": 128,
    }


def test_the_expert_example_fails_end_to_end(moto) -> None:
    """The audit stream complies; the HTTP endpoint stream's S3 backup (every record,
    900 s / 128 MB, unencrypted) and the raw backup (300 s) write to the same bucket."""
    client = _clients(moto.url)
    _seed(client("firehose"))
    verdict = judge(CHECK, {"s3_account.firehose_streams": _read(client).value}, resource="audit")
    assert not verdict.passed
    assert "stream siem (HttpEndpoint S3 backup, AllData) buffers 900 s" in verdict.message
    assert "stream siem (HttpEndpoint S3 backup, AllData) is not encrypted" in verdict.message
    assert "stream raw (ExtendedS3 S3 backup, Enabled) buffers 300 s" in verdict.message
    assert "search" not in verdict.message and "warehouse" not in verdict.message
    # Only the staging bucket: Redshift's intermediate location delivers every record.
    staging = judge(CHECK, {"s3_account.firehose_streams": _read(client).value}, resource="staging")
    assert staging.passed, staging.message


def test_streams_beyond_one_page_are_all_listed(moto) -> None:
    """moto keeps at most 50 streams and the collector asks for 100 a page: pages of two
    make moto follow ExclusiveStartDeliveryStreamName."""
    client = _clients(moto.url)
    real = client("firehose")
    names = [f"stream-{i}" for i in range(5)]
    for name in names:
        real.create_delivery_stream(
            DeliveryStreamName=name, ExtendedS3DestinationConfiguration=_s3("audit")
        )

    class SmallPages:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def list_delivery_streams(self, **kwargs: Any) -> dict:
            return real.list_delivery_streams(**{**kwargs, "Limit": 2})

    outcome = _read(lambda service: SmallPages())
    assert [stream["name"] for stream in outcome.value] == names
    assert moto.faults.requests["ListDeliveryStreams"] == 3


def test_describe_denied_is_an_error(moto) -> None:
    client = _clients(moto.url)
    _seed(client("firehose"))
    moto.faults.add(Fault("DescribeDeliveryStream", "AccessDeniedException", 400))
    outcome = _read(client)
    assert outcome.error is not None and outcome.error.code == "AccessDeniedException"


def test_no_stream_is_an_empty_list(moto) -> None:
    outcome = _read(_clients(moto.url))
    assert outcome.error is None and outcome.value == []


# --- the collector on answers shaped as AWS's (validated by botocore's Stubber) ----------


def _stubbed() -> tuple[Any, Stubber]:
    firehose = boto3.client("firehose", region_name=REGION)
    return firehose, Stubber(firehose)


def _description(name: str, *destinations: dict, more: bool = False, status: str = "ACTIVE"):
    return {
        "DeliveryStreamDescription": {
            "DeliveryStreamName": name,
            "DeliveryStreamARN": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}",
            "DeliveryStreamStatus": status,
            "DeliveryStreamType": "DirectPut",
            "VersionId": "1",
            "Destinations": list(destinations),
            "HasMoreDestinations": more,
        }
    }


def _s3_description(bucket: str = "audit", interval: int = 900, size: int = 128) -> dict:
    return {
        "RoleARN": ROLE,
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": size},
        "CompressionFormat": "UNCOMPRESSED",
        "EncryptionConfiguration": PLAIN,
    }


#: Destination descriptions moto cannot create, as DescribeDeliveryStream returns them.
DESTINATIONS = {
    "Splunk": {
        "HECEndpoint": "https://splunk.example.com",
        "HECEndpointType": "Raw",
        "S3BackupMode": "AllEvents",
        "S3DestinationDescription": _s3_description(),
    },
    "Amazonopensearchservice": {
        "RoleARN": ROLE,
        "DomainARN": f"arn:aws:es:{REGION}:{ACCOUNT}:domain/logs",
        "IndexName": "logs",
        "S3BackupMode": "AllDocuments",
        "S3DestinationDescription": _s3_description(),
    },
    "AmazonOpenSearchServerless": {
        "RoleARN": ROLE,
        "CollectionEndpoint": "https://c.aoss.amazonaws.com",
        "IndexName": "logs",
        "S3BackupMode": "AllDocuments",
        "S3DestinationDescription": _s3_description(),
    },
    "Snowflake": {
        "AccountUrl": "https://acme.snowflakecomputing.com",
        "User": "loader",
        "Database": "db",
        "Schema": "s",
        "Table": "logs",
        "S3BackupMode": "AllData",
        "S3DestinationDescription": _s3_description(),
    },
    "Iceberg": {
        "RoleARN": ROLE,
        "S3BackupMode": "AllData",
        "CatalogConfiguration": {"CatalogARN": f"arn:aws:glue:{REGION}:{ACCOUNT}:catalog"},
        "S3DestinationDescription": _s3_description(),
    },
}


@pytest.mark.parametrize("kind", sorted(DESTINATIONS))
def test_backups_of_destination_types_moto_lacks(kind: str) -> None:
    firehose, stubber = _stubbed()
    stubber.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["s"], "HasMoreDeliveryStreams": False},
        {"Limit": 100},
    )
    destination = {"DestinationId": "d-1", f"{kind}DestinationDescription": DESTINATIONS[kind]}
    stubber.add_response("describe_delivery_stream", _description("s", destination))
    with stubber:
        outcome = _read(lambda service: firehose)
    stubber.assert_no_pending_responses()
    (location,) = outcome.value[0]["s3_destinations"]
    mode = DESTINATIONS[kind]["S3BackupMode"]
    assert (location["delivery"], location["destination_type"], location["S3BackupMode"]) == (
        "backup",
        kind,
        mode,
    )
    verdict = judge(CHECK, {"s3_account.firehose_streams": outcome.value}, resource="audit")
    assert f"stream s ({kind} S3 backup, {mode}) buffers 900 s" in verdict.message


def test_listing_pages_follow_the_last_name() -> None:
    firehose, stubber = _stubbed()
    stubber.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["a", "b"], "HasMoreDeliveryStreams": True},
        {"Limit": 100},
    )
    stubber.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["c"], "HasMoreDeliveryStreams": False},
        {"Limit": 100, "ExclusiveStartDeliveryStreamName": "b"},
    )
    for name in "abc":
        stubber.add_response("describe_delivery_stream", _description(name))
    with stubber:
        outcome = _read(lambda service: firehose)
    stubber.assert_no_pending_responses()
    assert [stream["name"] for stream in outcome.value] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "second_page", [["a", "b"], []], ids=["start-name-ignored", "more-but-empty"]
)
def test_a_listing_that_makes_no_progress_is_an_error(second_page: list[str]) -> None:
    """A service that ignores ExclusiveStartDeliveryStreamName would repeat the first page
    forever; one that says more follow but sends none would drop the rest."""
    firehose, stubber = _stubbed()
    stubber.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["a", "b"], "HasMoreDeliveryStreams": True},
    )
    stubber.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": second_page, "HasMoreDeliveryStreams": True},
    )
    with stubber:
        outcome = _read(lambda service: firehose)
    assert outcome.error is not None and outcome.error.code == "ListingIncomplete"


def test_destinations_are_paged_too() -> None:
    firehose, stubber = _stubbed()
    stubber.add_response(
        "list_delivery_streams", {"DeliveryStreamNames": ["s"], "HasMoreDeliveryStreams": False}
    )
    first = {"DestinationId": "d-1", "ExtendedS3DestinationDescription": _s3_description("x")}
    second = {"DestinationId": "d-2", "ExtendedS3DestinationDescription": _s3_description()}
    stubber.add_response("describe_delivery_stream", _description("s", first, more=True))
    stubber.add_response(
        "describe_delivery_stream",
        _description("s", second),
        {"DeliveryStreamName": "s", "ExclusiveStartDestinationId": "d-1"},
    )
    with stubber:
        outcome = _read(lambda service: firehose)
    stubber.assert_no_pending_responses()
    buckets = [d["BucketARN"] for d in outcome.value[0]["s3_destinations"]]
    assert buckets == ["arn:aws:s3:::x", "arn:aws:s3:::audit"]


def test_one_stream_that_cannot_be_described_is_an_error_not_a_skip() -> None:
    firehose, stubber = _stubbed()
    stubber.add_response(
        "list_delivery_streams",
        {"DeliveryStreamNames": ["a", "b"], "HasMoreDeliveryStreams": False},
    )
    stubber.add_response("describe_delivery_stream", _description("a"))
    stubber.add_client_error("describe_delivery_stream", "ResourceNotFoundException")
    with stubber:
        outcome = _read(lambda service: firehose)
    assert outcome.error is not None and outcome.error.code == "ResourceNotFoundException"
    assert not outcome.resource_missing


def test_s3_locations_of_a_destination() -> None:
    """A disabled backup is recorded with its mode (the check ignores it); a bucket named
    in a part of the description not known yet is recorded as ``other`` (judged, never
    credited) rather than dropped."""
    from policycheck.sources.aws.firehose import _s3_locations

    redshift = {
        "RoleARN": ROLE,
        "S3DestinationDescription": _s3_description("staging"),
        "S3BackupMode": "Disabled",
        "S3BackupDescription": _s3_description("spare"),
        "FutureTables": [{"Warehouse": _s3_description("tables")}],
    }
    locations = _s3_locations({"DestinationId": "d", "RedshiftDestinationDescription": redshift})
    assert [
        (d["delivery"], d["BucketARN"].rsplit(":", 1)[-1], d["S3BackupMode"]) for d in locations
    ] == [
        ("intermediate", "staging", None),
        ("backup", "spare", "Disabled"),
        ("other", "tables", None),
    ]


def _processed(*parameters: tuple[str, str], enabled: bool = True, kind: str = "Lambda") -> dict:
    location = _location(interval=0)
    location["ProcessingConfiguration"] = {
        "Enabled": enabled,
        "Processors": [
            {
                "Type": kind,
                "Parameters": [
                    {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:f"},
                    *({"ParameterName": n, "ParameterValue": v} for n, v in parameters),
                ],
            }
        ],
    }
    return location


def test_a_lambda_processor_buffer_adds_to_the_delay() -> None:
    """The false pass on main: a 900 s processor buffer before a 0 s destination buffer
    passed the 60 s promise."""
    verdict = _judge(_stream("audit", _processed(("BufferIntervalInSeconds", "900"))))
    assert not verdict.passed
    assert "buffers 0 s after 900 s in its Lambda processor" in verdict.message
    # At the boundary: 60 s in the processor (its default) and none at the destination.
    assert _judge(_stream("audit", _processed())).passed
    assert _judge(_stream("audit", _processed(("BufferIntervalInSeconds", "60")))).passed
    assert not _judge(_stream("audit", _processed(("BufferIntervalInSeconds", "61")))).passed
    # A disabled processing configuration or another processor type buffers nothing here.
    late = ("BufferIntervalInSeconds", "900")
    assert _judge(_stream("audit", _processed(late, enabled=False))).passed
    assert _judge(_stream("audit", _processed(late, kind="AppendDelimiterToRecord"))).passed


def test_a_lambda_processor_buffer_size_and_unreadable_values() -> None:
    verdict = _judge(_stream("audit", _processed(("BufferSizeInMBs", "6"))))
    assert not verdict.passed and "Lambda processor buffers more than 5 MB" in verdict.message
    for value in ("soon", "Infinity", "NaN", "-1"):
        verdict = _judge(_stream("audit", _processed(("BufferIntervalInSeconds", value))))
        assert not verdict.passed and f"buffers {value!r}, not a number" in verdict.message


def test_the_collector_keeps_the_processing_configuration(moto) -> None:
    client = _clients(moto.url)
    firehose = client("firehose")
    firehose.create_delivery_stream(
        DeliveryStreamName="lambda",
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
            "BucketARN": "arn:aws:s3:::audit",
            "BufferingHints": {"IntervalInSeconds": 0, "SizeInMBs": 5},
            "ProcessingConfiguration": {
                "Enabled": True,
                "Processors": [
                    {
                        "Type": "Lambda",
                        "Parameters": [
                            {"ParameterName": "LambdaArn", "ParameterValue": "arn:aws:lambda:f"},
                            {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": "900"},
                        ],
                    }
                ],
            },
        },
    )
    streams = _read(client).value
    verdict = judge(CHECK, {"s3_account.firehose_streams": streams}, resource="audit")
    assert not verdict.passed and "after 900 s in its Lambda processor" in verdict.message
