"""For every check: a missing resource is a fail, an unreadable fact is an error carrying
the AWS error code, and a check that crashes is an error — never a pass."""

from datetime import UTC, datetime

import pytest

from checkhelpers import REQUIRED_PARAMS, target
from policycheck.bindings import ResourceInstance
from policycheck.controls import Catalog
from policycheck.evaluation import evaluate
from policycheck.facts import AwsError, FactOutcome
from policycheck.fetching import fact_key
from policycheck.locations import Where
from policycheck.planning import Target
from policycheck.plugins import load_registry
from policycheck.registry import CheckSpec

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
