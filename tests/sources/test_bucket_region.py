"""s3-bucket-in-region: "All resources reside in eu-central-1" — a bucket of the policy's
name in another region is not the platform's (bucket names are global). The region comes
from the ListBuckets answer that discovered the bucket where it names one (AWS's
``BucketRegion``), with no request of its own; from GetBucketLocation otherwise."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from policycheck.engine.discovery import Discovery
from policycheck.engine.fetching import read_fact
from policycheck.plugin.facts import FactOutcome, FetchContext, Memo
from policycheck.plugin.registry import load_registry
from policycheck.plugin.resources import ListedRegions
from policycheck.sources.aws.s3 import S3_BUCKET, region_of
from support.checks import judge, moto_clients
from support.faults import Fault
from support.harness import MotoServer, Workspace, audit

REGION = "eu-central-1"
ACCOUNT = "123456789012"
LISTED_AT = "2026-12-08T01:00:00+00:00"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _read(name: str, client: object = None, memo: Memo | None = None) -> FactOutcome:
    def clients(service: str) -> object:
        return client or boto3.client(service, region_name=REGION)

    memo = memo or Memo()
    context = FetchContext(name, ACCOUNT, REGION, "", clients, memo=memo.get, known=memo.known)
    return read_fact(load_registry().facts["s3_bucket.region"], context)


def _listed(regions: dict[str, str]) -> Memo:
    """A run's memo after discovery listed the location's buckets with these regions."""
    memo = Memo()
    answer = ListedRegions(regions, "s3:ListAllMyBuckets", LISTED_AT)
    memo.get(ListedRegions.key(S3_BUCKET.name, ACCOUNT, REGION), lambda: answer)
    return memo


class NoCalls:
    """A client that fails the test on any request."""

    def __getattr__(self, operation: str) -> None:
        raise AssertionError(f"called {operation}")


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
    assert outcome.spec.actions == ("s3:GetBucketLocation",)


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


# --- the region from the listing that discovered the bucket -----------------------------


@pytest.mark.parametrize(("listed", "passes"), [(REGION, True), ("eu-west-1", False)])
def test_listed_bucket_is_located_by_the_listing(listed: str, passes: bool) -> None:
    """No request: the value is the listing's, and the evidence names its call and time."""
    outcome = _read("state", NoCalls(), _listed({"state": listed}))
    assert outcome.value == listed and _verdict(outcome.value) is passes
    assert outcome.spec.actions == ("s3:ListAllMyBuckets",)
    assert outcome.fetched_at == LISTED_AT


def test_bucket_the_listing_did_not_name_is_asked_for(aws: None) -> None:
    """Named as written (not in the listing), or listed without a region: GetBucketLocation."""
    _create("state", "us-east-1")
    outcome = _read("state", memo=_listed({"other": REGION}))
    assert outcome.value == "us-east-1" and not _verdict(outcome.value)
    assert outcome.spec.actions == ("s3:GetBucketLocation",)


def test_discovery_keeps_the_regions_list_buckets_named() -> None:
    """AWS's ListBuckets names each bucket's region; an item without one (moto's answer)
    is left to GetBucketLocation, whatever region the request filtered on."""
    s3 = boto3.client("s3", region_name=REGION)
    page = {"Buckets": [{"Name": "logs-a", "BucketRegion": REGION}, {"Name": "logs-b"}]}
    memo = Memo()
    with Stubber(s3) as stub:
        stub.add_response("list_buckets", page, {"BucketRegion": REGION, "MaxBuckets": 10000})
        names = Discovery(memo).names((ACCOUNT, REGION), lambda _: s3, S3_BUCKET, "logs-*")
    listed = memo.known(ListedRegions.key(S3_BUCKET.name, ACCOUNT, REGION))
    assert names == ["logs-a", "logs-b"]
    assert listed.regions == {"logs-a": REGION} and listed.action == "s3:ListAllMyBuckets"


# --- a run against moto: requests counted ------------------------------------------------

#: dev's buckets: the state bucket named as written, two audit buckets by pattern.
BUCKETS = (
    "aiconnectors-terraform-state-dev",
    "nn-aiconnectors-audit-dev",
    "nn-aiconnectors-logs-dev",
)


def _list_buckets_answer(names: tuple[str, ...], region: str) -> str:
    """ListBuckets as AWS answers it: every bucket with its ``BucketRegion``."""
    buckets = "".join(
        f"<Bucket><Name>{name}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate>"
        f"<BucketRegion>{region}</BucketRegion></Bucket>"
        for name in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult '
        'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner>'
        f"<Buckets>{buckets}</Buckets></ListAllMyBucketsResult>"
    )


def _platform(moto: MotoServer, workspace: Workspace) -> None:
    s3 = moto_clients(moto.url)("s3")
    for name in BUCKETS:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    workspace.edit(lambda d: d["resources"]["audit_bucket"].update(name="nn-aiconnectors-*-{env}"))


def _run(moto: MotoServer, workspace: Workspace, *args: str) -> dict[str, Any]:
    result, report = audit(
        moto, workspace, "--env", "dev", "--checks", "s3-bucket-in-region", *args
    )
    assert report is not None, result.stderr
    return report


@pytest.mark.parametrize(
    ("aws_answer", "processes", "located_by", "get_bucket_location"),
    [
        (True, "1", "s3:ListAllMyBuckets", 0),
        (True, "2", "s3:ListAllMyBuckets", 0),
        (False, "1", "s3:GetBucketLocation", len(BUCKETS)),
    ],
    ids=["aws-answer", "aws-answer-two-processes", "moto-answer"],
)
def test_a_listed_bucket_costs_no_get_bucket_location(
    moto: MotoServer,
    workspace: Workspace,
    aws_answer: bool,
    processes: str,
    located_by: str,
    get_bucket_location: int,
) -> None:
    """With AWS's answer, the run's one ListBuckets locates every bucket of the location
    (the one named as written too), in forked fetching processes as well; with moto's,
    which leaves BucketRegion out, each bucket is asked for once."""
    _platform(moto, workspace)
    if aws_answer:
        moto.faults.add(Fault("ListBuckets", "", 200, answer=_list_buckets_answer(BUCKETS, REGION)))
    report = _run(moto, workspace, "--processes", processes)
    assert moto.faults.requests["ListBuckets"] == 1
    assert moto.faults.requests["GetBucketLocation"] == get_bucket_location
    results = report["results"]
    assert sorted(r["resource"]["name"] for r in results) == sorted(BUCKETS)
    assert {r["status"] for r in results} == {"pass"}
    assert {a for r in results for f in r["evidence"]["facts"] for a in f["actions"]} == {
        located_by
    }


def test_listed_in_another_region_fails(moto: MotoServer, workspace: Workspace) -> None:
    _platform(moto, workspace)
    moto.faults.add(
        Fault("ListBuckets", "", 200, answer=_list_buckets_answer(BUCKETS, "eu-west-1"))
    )
    results = _run(moto, workspace)["results"]
    assert moto.faults.requests["GetBucketLocation"] == 0
    assert {r["message"] for r in results} == {"bucket is in eu-west-1; expected eu-central-1"}


def test_denied_listing_is_an_error_and_named_buckets_are_asked_for(
    moto: MotoServer, workspace: Workspace
) -> None:
    _platform(moto, workspace)
    moto.faults.add(Fault("ListBuckets", "AccessDenied", 403))
    results = {r["resource"]["name"]: r for r in _run(moto, workspace)["results"]}
    pattern = results.pop("nn-aiconnectors-*-dev")
    assert pattern["status"] == "error" and pattern["error"]["code"] == "AccessDenied"
    assert [(n, r["status"]) for n, r in results.items()] == [(BUCKETS[0], "pass")]
    assert moto.faults.requests["GetBucketLocation"] == 1


def test_denied_get_bucket_location_is_an_error(moto: MotoServer, workspace: Workspace) -> None:
    _platform(moto, workspace)
    moto.faults.add(Fault("GetBucketLocation", "AccessDenied", 403))
    results = _run(moto, workspace)["results"]
    assert {(r["status"], r["error"]["code"]) for r in results} == {("error", "AccessDenied")}
