"""Collectors against moto (in-process): each fact's value, 'not configured' (None),
'resource missing', and error classification."""

import json
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from policycheck.engine.fetching import read_fact
from policycheck.plugin.facts import FactSpec, FetchContext
from policycheck.plugin.registry import load_registry

REGION = "eu-central-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _client(service: str):
    return boto3.client(service, region_name=REGION)


def _context(name: str, client: object = None, parent: str = "", **deps: object) -> FetchContext:
    return FetchContext(name, ACCOUNT, REGION, parent, client or _client, deps)


def _read(fact: str, name: str, parent: str = ""):
    return read_fact(load_registry().facts[fact], _context(name, parent=parent))


def _bucket(name: str = "the-bucket") -> str:
    _client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return name


S3_FACTS = [
    "s3_bucket.versioning",
    "s3_bucket.encryption",
    "s3_bucket.public_access_block",
    "s3_bucket.lifecycle",
    "s3_bucket.policy",
]


@pytest.mark.parametrize("fact", S3_FACTS)
def test_s3_missing_bucket(aws: None, fact: str) -> None:
    outcome = _read(fact, "no-such-bucket")
    assert outcome.resource_missing and outcome.error is None


@pytest.mark.parametrize("fact", S3_FACTS[1:])
def test_s3_not_configured_is_none(aws: None, fact: str) -> None:
    outcome = _read(fact, _bucket())
    assert outcome.value is None and not outcome.resource_missing and outcome.error is None


def test_s3_versioning_never_enabled_is_empty(aws: None) -> None:
    assert _read("s3_bucket.versioning", _bucket()).value == {}


def test_s3_values(aws: None) -> None:
    s3 = _client("s3")
    bucket = _bucket()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "r",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": 5},
                }
            ]
        },
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    assert _read("s3_bucket.versioning", bucket).value == {"Status": "Suspended"}
    encryption = _read("s3_bucket.encryption", bucket).value
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert _read("s3_bucket.public_access_block", bucket).value["BlockPublicPolicy"] is False
    assert _read("s3_bucket.lifecycle", bucket).value[0]["Expiration"] == {"Days": 5}
    assert _read("s3_bucket.policy", bucket).value["Statement"][0]["Action"] == "s3:DeleteObject"


def test_account_public_access_block(aws: None) -> None:
    assert _read("s3_account.public_access_block", "").value is None
    _client("s3control").put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    assert _read("s3_account.public_access_block", "").value["RestrictPublicBuckets"] is True


def _table(name: str = "the-table") -> str:
    _client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.mark.parametrize("fact", ["dynamodb_table.continuous_backups", "dynamodb_table.ttl"])
def test_dynamodb_missing_table(aws: None, fact: str) -> None:
    assert _read(fact, "no-such-table").resource_missing


def test_dynamodb_values_are_json_ready(aws: None) -> None:
    table = _table()
    ddb = _client("dynamodb")
    assert (
        _read("dynamodb_table.continuous_backups", table).value["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ]
        == "DISABLED"
    )
    ddb.update_continuous_backups(
        TableName=table,
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 20,
        },
    )
    pitr = _read("dynamodb_table.continuous_backups", table).value["PointInTimeRecoveryDescription"]
    assert pitr["RecoveryPeriodInDays"] == 20
    assert isinstance(pitr["EarliestRestorableDateTime"], str)  # datetimes become ISO text
    json.dumps(pitr)
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    assert _read("dynamodb_table.ttl", table).value == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "exp",
    }


@pytest.mark.parametrize(
    "fact", ["ecr_repository.lifecycle_policy", "ecr_repository.tagged_images"]
)
def test_ecr_missing_repository(aws: None, fact: str) -> None:
    assert _read(fact, "no-such-repo").resource_missing


def test_ecr_values(aws: None) -> None:
    from policycheck.checks.ecr import DEMO_MANIFEST

    ECR_MANIFEST = json.dumps(DEMO_MANIFEST)

    ecr = _client("ecr")
    ecr.create_repository(repositoryName="mcp-x")
    assert _read("ecr_repository.lifecycle_policy", "mcp-x").value is None
    assert _read("ecr_repository.tagged_images", "mcp-x").value == []
    policy = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    ecr.put_lifecycle_policy(repositoryName="mcp-x", lifecyclePolicyText=json.dumps(policy))
    ecr.put_image(repositoryName="mcp-x", imageManifest=ECR_MANIFEST, imageTag="v1")
    assert _read("ecr_repository.lifecycle_policy", "mcp-x").value == policy
    images = _read("ecr_repository.tagged_images", "mcp-x").value
    assert [image["tags"] for image in images] == [["v1"]]
    assert images[0]["pushed_at"]


def test_tagged_images_paginate() -> None:
    """More images than fit one page are all seen."""
    pages = [
        {
            "imageDetails": [
                {"imageDigest": f"sha256:{i}", "imageTags": [f"v{i}"]}
                for i in range(start, start + 3)
            ]
        }
        for start in (0, 3, 6)
    ]

    class Paginator:
        def paginate(self, **kwargs: object) -> list[dict]:
            assert kwargs["filter"] == {"tagStatus": "TAGGED"}
            return pages

    class Client:
        def get_paginator(self, name: str) -> Paginator:
            assert name == "describe_images"
            return Paginator()

    context = _context("r", client=lambda service: Client())
    outcome = read_fact(load_registry().facts["ecr_repository.tagged_images"], context)
    assert len(outcome.value) == 9


def _failing(code: str) -> object:
    class Client:
        def get_bucket_policy(self, **_: object) -> None:
            raise ClientError(
                {"Error": {"Code": code, "Message": f"{code} happened"}}, "GetBucketPolicy"
            )

    return Client()


@pytest.mark.parametrize("code", ["AccessDenied", "SlowDown", "InternalError"])
def test_other_errors_are_recorded_with_code(code: str) -> None:
    context = _context("b", client=lambda service: _failing(code))
    outcome = read_fact(load_registry().facts["s3_bucket.policy"], context)
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.message) == (code, f"{code} happened")
    assert outcome.value is None and not outcome.resource_missing


def test_every_fact_declares_its_actions() -> None:
    aws_services = {"s3", "dynamodb", "ecr", "ecs", "iam", "kms", "ssm", "firehose"}
    for spec in load_registry().facts.values():
        assert isinstance(spec, FactSpec)
        for action in spec.actions:
            service, _, operation = action.partition(":")
            assert service in aws_services | {"local"} and operation[0].isupper(), spec


def test_no_request_is_made_twice(recorded_full_run) -> None:
    """A full run over a seeded account asks every question once: facts shared by checks,
    environments sharing an account, the one KMS key of all tables, the task roles."""
    assert recorded_full_run.report.summary.status == "pass"
    calls = Counter(
        f"{c.operation} {json.dumps(c.params, sort_keys=True, default=str)}"
        for c in recorded_full_run.calls
        if c.service != "sts"
    )
    assert {call: n for call, n in calls.items() if n > 1} == {}
    by_operation = Counter(call.split(" ", 1)[0] for call in calls)
    assert by_operation["DescribeKey"] == 1  # 8 tables, one AWS managed key
    assert by_operation["GetPublicAccessBlock"] == 4 + 1  # 4 buckets, 1 account
    assert by_operation["ListDeliveryStreams"] == 1
    assert by_operation["ListServices"] == 2  # one per cluster
    assert by_operation["GetLifecyclePolicy"] == 4  # repositories shared by dev and prod
