"""Recovery plan readiness (SC.10.03.01) and the remaining promises of SC.10.01/SC.10.02."""

import pytest

from support.checks import judge

# --- ecs-service-stable ------------------------------------------------------------------


def _service(
    desired: int = 1,
    running: int = 1,
    rollout: str | None = "COMPLETED",
    status: str = "ACTIVE",
    deployments: int = 1,
) -> dict:
    primary = {
        "status": "PRIMARY",
        "rolloutState": rollout,
        "desiredCount": desired,
        "runningCount": running,
    }
    active = [{"status": "ACTIVE", "rolloutState": None}] * (deployments - 1)
    return {
        "ecs_service.description": {
            "status": status,
            "desiredCount": desired,
            "runningCount": running,
            "deployments": [primary, *active],
        }
    }


def test_service_stable_passes() -> None:
    verdict = judge("ecs-service-stable", _service())
    assert verdict.passed
    assert verdict.message == "ACTIVE with 1/1 tasks running, deployment COMPLETED"


@pytest.mark.parametrize(
    ("service", "said"),
    [
        (_service(desired=0, running=0), "desired count is 0"),
        (_service(desired=2, running=1), "1 of 2 tasks running"),
        (_service(rollout="IN_PROGRESS"), "primary deployment is IN_PROGRESS"),
        (_service(status="DRAINING"), "service is DRAINING"),
    ],
)
def test_service_unstable_fails(service: dict, said: str) -> None:
    verdict = judge("ecs-service-stable", service)
    assert not verdict.passed
    assert said in verdict.message


def test_service_boundary_min_desired_count() -> None:
    assert judge("ecs-service-stable", _service(desired=2, running=2), min_desired_count=2).passed
    assert not judge("ecs-service-stable", _service(), min_desired_count=2).passed


def test_service_without_rollout_state_needs_a_single_deployment() -> None:
    assert judge("ecs-service-stable", _service(rollout=None)).passed
    assert not judge("ecs-service-stable", _service(rollout=None, deployments=2)).passed


# --- ssm-parameter-secure ----------------------------------------------------------------


def test_parameter_secure() -> None:
    verdict = judge(
        "ssm-parameter-secure",
        {
            "ssm_parameter.description": {
                "Name": "/x",
                "Type": "SecureString",
                "KeyId": "alias/aws/ssm",
            }
        },
    )
    assert verdict.passed and verdict.message == "parameter is a SecureString"


@pytest.mark.parametrize("kind", ["String", "StringList"])
def test_parameter_in_clear_fails(kind: str) -> None:
    verdict = judge("ssm-parameter-secure", {"ssm_parameter.description": {"Type": kind}})
    assert not verdict.passed
    assert verdict.message == f"parameter is a {kind}; expected SecureString"


# --- terraform-lock-table-ready ----------------------------------------------------------


def _table(key: str = "LockID", kind: str = "S", status: str = "ACTIVE") -> dict:
    return {
        "dynamodb_table.description": {
            "TableStatus": status,
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key, "AttributeType": kind}],
        }
    }


def test_lock_table_ready() -> None:
    verdict = judge("terraform-lock-table-ready", _table())
    assert verdict.passed and verdict.message == "ACTIVE with partition key LockID (S)"


@pytest.mark.parametrize(
    ("table", "said"),
    [
        (_table(key="id"), "partition key is id of type S"),
        (_table(kind="N"), "partition key is LockID of type N"),
        (_table(status="CREATING"), "table is CREATING"),
    ],
)
def test_lock_table_not_ready(table: dict, said: str) -> None:
    verdict = judge("terraform-lock-table-ready", table)
    assert not verdict.passed and said in verdict.message


# --- dynamodb-encryption-at-rest ---------------------------------------------------------

KEY_ARN = "arn:aws:kms:eu-central-1:123456789012:key/k"


def _encryption(sse: dict | None, key: dict | None) -> dict:
    description = {"TableStatus": "ACTIVE"}
    if sse is not None:
        description["SSEDescription"] = sse
    return {"dynamodb_table.description": description, "dynamodb_table.kms_key": key}


KMS_ON = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": KEY_ARN}


@pytest.mark.parametrize(
    ("sse", "key", "kind"),
    [
        (None, None, "aws_owned"),
        ({"Status": "DISABLED"}, None, "aws_owned"),
        (KMS_ON, {"Arn": KEY_ARN, "KeyManager": "AWS"}, "aws_managed"),
        # moto reports KeyManager CUSTOMER for aws/dynamodb; the reserved alias tells the truth
        (
            KMS_ON,
            {"Arn": KEY_ARN, "KeyManager": "CUSTOMER", "Aliases": ["alias/aws/dynamodb"]},
            "aws_managed",
        ),
        (
            KMS_ON,
            {"Arn": KEY_ARN, "KeyManager": "CUSTOMER", "Aliases": ["alias/tokens"]},
            "customer_managed",
        ),
    ],
)
def test_key_kinds(sse: dict | None, key: dict | None, kind: str) -> None:
    verdict = judge("dynamodb-encryption-at-rest", _encryption(sse, key), allowed=kind)
    assert verdict.passed, verdict.message
    assert verdict.observed["kind"] == kind


def test_default_requires_the_aws_managed_key() -> None:
    verdict = judge("dynamodb-encryption-at-rest", _encryption(None, None))
    assert not verdict.passed
    assert verdict.message == ("encrypted with an AWS owned key; expected an AWS managed KMS key")


def test_allowed_list_and_transitions() -> None:
    customer = _encryption(KMS_ON, {"Arn": KEY_ARN, "KeyManager": "CUSTOMER", "Aliases": []})
    assert judge(
        "dynamodb-encryption-at-rest", customer, allowed=["aws_managed", "customer_managed"]
    ).passed
    updating = _encryption({**KMS_ON, "Status": "UPDATING"}, None)
    verdict = judge("dynamodb-encryption-at-rest", updating)
    assert not verdict.passed and verdict.message.startswith("encryption is changing (UPDATING)")


# --- firehose-delivers-to-audit-bucket ---------------------------------------------------


def _stream(
    interval: int = 60,
    size: int = 5,
    bucket: str = "bucket",
    status: str = "ACTIVE",
    stream_sse: dict | None = None,
    kms: bool = True,
    name: str = "audit",
) -> dict:
    destination = {
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"IntervalInSeconds": interval, "SizeInMBs": size},
        "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": "k"}}
        if kms
        else {"NoEncryptionConfig": "NoEncryption"},
    }
    return {
        "name": name,
        "status": status,
        "encryption": stream_sse,
        "s3_destinations": [destination],
    }


def _streams(*streams: dict) -> dict:
    return {"s3_account.firehose_streams": list(streams)}


def test_firehose_passes_at_the_boundary() -> None:
    verdict = judge("firehose-delivers-to-audit-bucket", _streams(_stream()))
    assert verdict.passed
    assert verdict.message == "audit deliver within 60 s / 5 MB, encrypted"


@pytest.mark.parametrize(
    ("stream", "said"),
    [
        (_stream(interval=61), "stream audit buffers 61 s"),
        (_stream(size=6), "stream audit buffers 6 MB"),
        (_stream(kms=False), "stream audit is not encrypted"),
        (_stream(status="CREATING"), "stream audit is CREATING"),
    ],
)
def test_firehose_fails(stream: dict, said: str) -> None:
    verdict = judge("firehose-delivers-to-audit-bucket", _streams(stream))
    assert not verdict.passed and said in verdict.message


def test_firehose_stream_encryption_counts() -> None:
    stream = _stream(kms=False, stream_sse={"KeyType": "AWS_OWNED_CMK", "Status": "ENABLED"})
    assert judge("firehose-delivers-to-audit-bucket", _streams(stream)).passed


def test_firehose_every_writer_must_comply() -> None:
    slow = _stream(interval=900, name="slow")
    verdict = judge("firehose-delivers-to-audit-bucket", _streams(_stream(), slow))
    assert not verdict.passed and "stream slow buffers 900 s" in verdict.message


def test_firehose_no_stream_to_this_bucket() -> None:
    for facts in (_streams(_stream(bucket="other")), {"s3_account.firehose_streams": []}):
        verdict = judge("firehose-delivers-to-audit-bucket", facts)
        assert not verdict.passed
        assert verdict.message.startswith("no delivery stream writes to this bucket")


# --- s3-cross-region-replication ---------------------------------------------------------


def _replication(*destinations: dict) -> dict:
    return {
        "s3_bucket.replication": {"Rules": [{"Status": "Enabled"}]},
        "s3_bucket.replication_destinations": list(destinations),
    }


def test_replication_to_versioned_bucket_elsewhere_passes() -> None:
    verdict = judge(
        "s3-cross-region-replication",
        _replication(
            {"bucket": "r", "exists": True, "region": "eu-west-1", "versioning": "Enabled"}
        ),
    )
    assert verdict.passed and verdict.message == "replicates to r in eu-west-1"


@pytest.mark.parametrize(
    ("destination", "said"),
    [
        (
            {"bucket": "r", "exists": True, "region": "eu-central-1", "versioning": "Enabled"},
            "r is in the same region",
        ),
        (
            {"bucket": "r", "exists": True, "region": "eu-west-1", "versioning": "Suspended"},
            "r is not versioned",
        ),
        ({"bucket": "r", "exists": False}, "r does not exist"),
    ],
)
def test_replication_destination_problems(destination: dict, said: str) -> None:
    verdict = judge("s3-cross-region-replication", _replication(destination))
    assert not verdict.passed and verdict.message.startswith(said)


def test_no_replication_fails() -> None:
    verdict = judge(
        "s3-cross-region-replication",
        {"s3_bucket.replication": None, "s3_bucket.replication_destinations": []},
    )
    assert not verdict.passed and verdict.message.startswith("no enabled replication rule")


def test_a_lock_table_with_a_sort_key_fails() -> None:
    """Terraform's S3 backend writes lock items with LockID only: a table with a sort key
    refuses every lock write. It passed on main."""
    table = _table()
    description = table["dynamodb_table.description"]
    description["KeySchema"].append({"AttributeName": "Info", "KeyType": "RANGE"})
    description["AttributeDefinitions"].append({"AttributeName": "Info", "AttributeType": "S"})
    verdict = judge("terraform-lock-table-ready", table)
    assert not verdict.passed
    assert "sort key Info: the S3 backend writes lock items with LockID only" in verdict.message
