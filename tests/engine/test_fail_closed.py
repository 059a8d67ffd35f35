"""For every check: a missing resource is a fail, an unreadable fact is an error carrying
the AWS error code, and a check that crashes is an error — never a pass."""

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from policycheck.engine.discovery import Discovery, DiscoveryFailed
from policycheck.engine.evaluation import evaluate
from policycheck.engine.fetching import MAX_FACT_CHARS, fact_key, read_fact
from policycheck.engine.locations import Where
from policycheck.engine.planning import Target
from policycheck.errors import MAX_ERROR_CHARS
from policycheck.plugin.check import CheckSpec
from policycheck.plugin.facts import AwsError, FactOutcome, FactSpec, FetchContext
from policycheck.plugin.registry import load_registry
from policycheck.policy.bindings import ResourceInstance
from policycheck.policy.controls import Catalog
from support.checks import REQUIRED_PARAMS, target

CHECK_IDS = sorted(load_registry().checks)


NOW = datetime(2026, 11, 24, tzinfo=UTC)
HERE = Where("dev", "123456789012", "eu-central-1")


def _target(spec: CheckSpec) -> Target:
    resource = ResourceInstance("res-name", "parent", {"env": "dev", "mcp": "x"}, "eu-central-1")
    return target(spec.id, resource, HERE, REQUIRED_PARAMS.get(spec.id, {}))


def _outcomes(spec: CheckSpec, **overrides: object) -> dict:
    facts = load_registry().facts
    return {
        fact_key("123456789012", "eu-central-1", facts[name], "res-name", "parent"): FactOutcome(
            facts[name], **overrides
        )
        for name in spec.facts
    }


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_missing_resource_fails(check_id: str, catalog: Catalog) -> None:
    spec = load_registry().checks[check_id]
    result = evaluate(
        _target(spec),
        _outcomes(spec, resource_missing=True),
        catalog,
        NOW,
        load_registry(),
    )
    assert result.status == "fail"
    assert result.message.endswith("does not exist; expected it to exist")
    assert result.control_ids == catalog.control_ids_for(check_id)


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_api_error_is_an_error_with_the_code(check_id: str, catalog: Catalog) -> None:
    spec = load_registry().checks[check_id]
    denied = AwsError("AccessDenied", "User is not authorized")
    result = evaluate(_target(spec), _outcomes(spec, error=denied), catalog, NOW, load_registry())
    assert result.status == "error"
    assert result.error is not None and result.error.code == "AccessDenied"
    assert "AccessDenied" in result.message
    assert load_registry().facts[spec.facts[0]].action in result.message


def test_one_unreadable_fact_of_two_is_an_error(catalog: Catalog) -> None:
    spec = load_registry().checks["s3-public-access-blocked"]
    facts = load_registry().facts
    outcomes = _outcomes(spec, value={"BlockPublicAcls": True})
    account_fact = facts["s3_account.public_access_block"]
    outcomes[fact_key("123456789012", "eu-central-1", account_fact, "res-name")] = FactOutcome(
        account_fact, error=AwsError("AccessDenied", "denied")
    )
    result = evaluate(_target(spec), outcomes, catalog, NOW, load_registry())
    assert result.status == "error"
    assert "s3:GetAccountPublicAccessBlock" in result.message


def test_crashing_check_is_an_error(catalog: Catalog) -> None:
    spec = load_registry().checks["s3-versioning-enabled"]
    outcomes = _outcomes(spec, value="not a mapping")
    result = evaluate(_target(spec), outcomes, catalog, NOW, load_registry())
    assert result.status == "error"
    assert result.error is not None and result.error.code == "AttributeError"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"Rules": [{"ID": "\ud800"}]}, "Rules[0].ID is not Unicode text (a lone surrogate)"),
        ({"Tags": {"\udfff": "v"}}, "Tags (a key) is not Unicode text"),
        ({"Size": 10**1200}, "Size is an integer too large to store"),
        ({"Policy": object()}, "Policy is a object, which a report cannot hold"),
        ({"Blob": "x" * (MAX_FACT_CHARS + 1)}, "characters as JSON, over 16,777,216"),
    ],
)
def test_an_answer_a_report_cannot_hold_is_an_error_naming_the_field(
    answer: dict, said: str
) -> None:
    bucket = load_registry().resource_types["s3_bucket"]
    spec = FactSpec("test.answer", bucket, ("s3:GetBucketTagging",), lambda ctx: answer)
    context = FetchContext("b", "123456789012", "eu-central-1", "", lambda _: None)
    outcome = read_fact(spec, context)
    assert outcome.error is not None and outcome.error.code == "UnstorableValue"
    assert said in outcome.error.message


def test_an_error_message_a_report_cannot_hold_is_escaped_and_cut() -> None:
    bucket = load_registry().resource_types["s3_bucket"]

    def fails(ctx: FetchContext) -> None:
        error = {"Error": {"Code": "Bad\ud800", "Message": "\ud800" + "m" * 10_000}}
        raise ClientError(error, "GetBucketTagging")  # type: ignore[arg-type]

    spec = FactSpec("test.fails", bucket, ("s3:GetBucketTagging",), fails)
    outcome = read_fact(spec, FetchContext("b", "1", "r", "", lambda _: None))
    assert outcome.error is not None and outcome.error.code == "Bad\\ud800"
    assert outcome.error.message.startswith("\\ud800mmm")
    assert len(outcome.error.message) <= MAX_ERROR_CHARS + 6
    outcome.error.message.encode("utf-8")


def test_a_listed_name_a_report_cannot_hold_fails_the_listing() -> None:
    s3 = load_registry().resource_types["s3_bucket"]

    class Client:
        def get_paginator(self, operation: str) -> "Client":
            return self

        def paginate(self, **request: object) -> list[dict]:
            return [{"Buckets": [{"Name": "ok"}, {"Name": "b\ud800"}]}]

    with pytest.raises(DiscoveryFailed, match=r"Buckets\[1\]\.Name is not Unicode text"):
        Discovery().names(("1", "r"), lambda _: Client(), s3, "*")
