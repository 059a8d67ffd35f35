"""DynamoDB checks: point-in-time recovery and Time to Live."""

from pydantic import Field

from policycheck.registry import CheckParams, Facts, Verdict, check, judge

#: AWS's recovery period when none is reported (the only period before 2025).
DEFAULT_RECOVERY_DAYS = 35


class PitrParams(CheckParams):
    min_recovery_days: int = Field(
        35, ge=1, le=35, description="Shortest acceptable PITR recovery period, in days."
    )


@check(
    id="dynamodb-pitr-enabled",
    title="DynamoDB point-in-time recovery is enabled with the required recovery period",
    resource_type="dynamodb_table",
    severity="high",
    facts=("dynamodb_table.continuous_backups",),
    remediation=(
        "aws dynamodb update-continuous-backups --table-name {name} "
        "--point-in-time-recovery-specification "
        "PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=35"
    ),
    params=PitrParams,
)
def pitr_enabled(facts: Facts, params: PitrParams) -> Verdict:
    """Point-in-time recovery is ``ENABLED`` with ``RecoveryPeriodInDays`` of at least
    ``min_recovery_days``."""
    description = facts["dynamodb_table.continuous_backups"] or {}
    pitr = description.get("PointInTimeRecoveryDescription", {})
    status = pitr.get("PointInTimeRecoveryStatus", "not reported")
    period = pitr.get("RecoveryPeriodInDays", DEFAULT_RECOVERY_DAYS)
    expected = {
        "PointInTimeRecoveryStatus": "ENABLED",
        "RecoveryPeriodInDays": f">= {params.min_recovery_days}",
    }
    expected_text = f"ENABLED with at least {params.min_recovery_days} days"
    observed = {"PointInTimeRecoveryStatus": status, "RecoveryPeriodInDays": period}
    if status != "ENABLED":
        return judge(
            False,
            f"point-in-time recovery is {status}",
            expected_text,
            expected=expected,
            observed=observed,
        )
    return judge(
        period >= params.min_recovery_days,
        f"point-in-time recovery is ENABLED with a {period}-day recovery period",
        expected_text,
        expected=expected,
        observed=observed,
    )


class TtlParams(CheckParams):
    attribute_name: str | None = Field(None, description="If set, TTL must use this attribute.")


@check(
    id="dynamodb-ttl-enabled",
    title="DynamoDB Time to Live is enabled",
    resource_type="dynamodb_table",
    severity="low",
    facts=("dynamodb_table.ttl",),
    remediation=(
        "aws dynamodb update-time-to-live --table-name {name} "
        "--time-to-live-specification Enabled=true,AttributeName=<ttl attribute>"
    ),
    params=TtlParams,
)
def ttl_enabled(facts: Facts, params: TtlParams) -> Verdict:
    """Time to Live status is ``ENABLED`` (and uses ``attribute_name`` when one is set)."""
    description = facts["dynamodb_table.ttl"] or {}
    status = description.get("TimeToLiveStatus", "not reported")
    attribute = description.get("AttributeName")
    expected = {"TimeToLiveStatus": "ENABLED", "AttributeName": params.attribute_name}
    expected_text = "ENABLED" + (
        f" on attribute {params.attribute_name!r}" if params.attribute_name else ""
    )
    passed = status == "ENABLED" and params.attribute_name in (None, attribute)
    text = f"Time to Live is {status}" + (f" on attribute {attribute!r}" if attribute else "")
    return judge(passed, text, expected_text, expected=expected, observed=description)
