import pytest

from support.checks import judge


def _pitr(status: str = "ENABLED", days: int | None = 35) -> dict:
    description = {"PointInTimeRecoveryStatus": status}
    if days is not None:
        description["RecoveryPeriodInDays"] = days
    return {
        "dynamodb_table.continuous_backups": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": description,
        }
    }


def test_pitr_enabled_35_days_passes() -> None:
    verdict = judge("dynamodb-pitr-enabled", _pitr())
    assert verdict.passed
    assert verdict.message == "point-in-time recovery is ENABLED with a 35-day recovery period"


def test_pitr_disabled_fails() -> None:
    verdict = judge("dynamodb-pitr-enabled", _pitr(status="DISABLED"))
    assert not verdict.passed
    assert (
        verdict.message
        == "point-in-time recovery is DISABLED; expected ENABLED with at least 35 days"
    )


@pytest.mark.parametrize(("days", "passed"), [(34, False), (35, True)])
def test_pitr_recovery_period_boundary(days: int, passed: bool) -> None:
    assert judge("dynamodb-pitr-enabled", _pitr(days=days)).passed is passed


def test_pitr_lower_threshold_parameter() -> None:
    assert judge("dynamodb-pitr-enabled", _pitr(days=7), min_recovery_days=7).passed
    assert not judge("dynamodb-pitr-enabled", _pitr(days=6), min_recovery_days=7).passed


def test_pitr_period_not_reported_is_the_aws_default() -> None:
    verdict = judge("dynamodb-pitr-enabled", _pitr(days=None))
    assert verdict.passed
    assert verdict.observed["RecoveryPeriodInDays"] == 35


def test_pitr_description_missing_fails() -> None:
    verdict = judge("dynamodb-pitr-enabled", {"dynamodb_table.continuous_backups": {}})
    assert not verdict.passed


def _ttl(status: str, attribute: str | None = "expires_at") -> dict:
    description = {"TimeToLiveStatus": status}
    if attribute:
        description["AttributeName"] = attribute
    return {"dynamodb_table.ttl": description}


def test_ttl_enabled_passes() -> None:
    verdict = judge("dynamodb-ttl-enabled", _ttl("ENABLED"))
    assert verdict.passed
    assert verdict.message == "Time to Live is ENABLED on attribute 'expires_at'"


@pytest.mark.parametrize("status", ["DISABLED", "ENABLING", "DISABLING"])
def test_ttl_not_enabled_fails(status: str) -> None:
    verdict = judge("dynamodb-ttl-enabled", _ttl(status, None))
    assert not verdict.passed
    assert verdict.message == f"Time to Live is {status}; expected ENABLED"


def test_ttl_attribute_parameter() -> None:
    assert judge("dynamodb-ttl-enabled", _ttl("ENABLED", "ttl"), attribute_name="ttl").passed
    assert not judge("dynamodb-ttl-enabled", _ttl("ENABLED", "other"), attribute_name="ttl").passed


@pytest.mark.parametrize("days", [float("inf"), float("nan"), -1, 0, 36, 35.5, "35", True])
def test_an_impossible_recovery_period_is_an_error_naming_the_field(days: object) -> None:
    """ "inf-day recovery period" passed on main: a value DynamoDB cannot hold is an
    error (the check raises; the runner makes it an error result), never a pass."""
    from policycheck.plugin.check import ImpossibleValue

    with pytest.raises(ImpossibleValue, match=r"RecoveryPeriodInDays is .*from 1 to 35"):
        judge("dynamodb-pitr-enabled", _pitr(days=days))  # type: ignore[arg-type]


@pytest.mark.parametrize("days", [1, 35])
def test_the_recovery_period_range_ends_are_possible(days: int) -> None:
    assert judge("dynamodb-pitr-enabled", _pitr(days=days), min_recovery_days=1).passed


def test_a_non_finite_number_in_an_aws_answer_is_an_error_naming_it() -> None:
    from policycheck.engine.fetching import read_fact
    from policycheck.plugin.facts import FetchContext
    from policycheck.plugin.registry import load_registry

    class Answers:
        def describe_continuous_backups(self, **_: object) -> dict:
            description = {
                "PointInTimeRecoveryStatus": "ENABLED",
                "RecoveryPeriodInDays": float("inf"),
            }
            return {"ContinuousBackupsDescription": {"PointInTimeRecoveryDescription": description}}

    spec = load_registry().facts["dynamodb_table.continuous_backups"]
    context = FetchContext("t", "123456789012", "eu-central-1", "", lambda service: Answers())
    outcome = read_fact(spec, context)
    assert outcome.error is not None and outcome.error.code == "ImpossibleValue"
    assert outcome.error.message == (
        "PointInTimeRecoveryDescription.RecoveryPeriodInDays is inf, not a finite number"
    )
