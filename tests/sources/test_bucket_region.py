"""s3-bucket-in-region: "All resources reside in eu-central-1" — a bucket of the policy's
name in another region is not the platform's (bucket names are global)."""

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from policycheck.engine.fetching import read_fact
from policycheck.plugin.facts import FetchContext
from policycheck.plugin.registry import load_registry
from policycheck.sources.aws.s3 import region_of
from support.checks import judge

REGION = "eu-central-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _read(name: str, client: object = None) -> object:
    def clients(service: str) -> object:
        return client or boto3.client(service, region_name=REGION)

    context = FetchContext(name, "123456789012", REGION, "", clients)
    return read_fact(load_registry().facts["s3_bucket.region"], context)


def _create(name: str, region: str) -> None:
    configuration = {} if region == "us-east-1" else {"LocationConstraint": region}
    boto3.client("s3", region_name=region).create_bucket(
        Bucket=name, **({"CreateBucketConfiguration": configuration} if configuration else {})
    )


def _verdict(region: str) -> bool:
    return judge("s3-bucket-in-region", {"s3_bucket.region": region}).passed


def test_bucket_in_the_environments_region_passes(aws: None) -> None:
    _create("state", REGION)
    outcome = _read("state")
    assert outcome.value == REGION and _verdict(outcome.value)


def test_bucket_of_the_same_name_elsewhere_fails(aws: None) -> None:
    _create("state", "eu-west-1")
    outcome = _read("state")
    assert outcome.value == "eu-west-1"
    verdict = judge("s3-bucket-in-region", {"s3_bucket.region": outcome.value})
    assert not verdict.passed and verdict.message == "bucket is in eu-west-1; expected eu-central-1"


def test_us_east_1_answers_without_a_constraint(aws: None) -> None:
    _create("state", "us-east-1")
    assert _read("state").value == "us-east-1"
    assert not _verdict("us-east-1")


@pytest.mark.parametrize(
    ("constraint", "region"), [(None, "us-east-1"), ("", "us-east-1"), ("EU", "eu-west-1")]
)
def test_legacy_location_constraints(constraint: str | None, region: str) -> None:
    assert region_of(constraint) == region


def test_absent_bucket_is_missing(aws: None) -> None:
    assert _read("no-such-bucket").resource_missing


def test_api_error_is_an_error() -> None:
    class Denied:
        def get_bucket_location(self, **_: object) -> None:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetBucketLocation"
            )

    outcome = _read("state", Denied())
    assert outcome.error is not None and outcome.error.code == "AccessDenied"
