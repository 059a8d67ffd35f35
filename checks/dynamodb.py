"""DynamoDB checks: point-in-time recovery and Time to Live."""

from typing import Annotated, Any, Literal

from pydantic import Field

from policycheck.plugin.check import CheckParams, Facts, ImpossibleValue, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples


def _pitr(days: int) -> Call:
    return Call(
        "dynamodb",
        "update_continuous_backups",
        {
            "TableName": "{name}",
            "PointInTimeRecoverySpecification": {
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": days,
            },
        },
    )


def _partition_key(name: str) -> dict[str, Any]:
    """Creation arguments giving a table the partition key ``name`` (type S)."""
    return {
        "create_table": {
            "KeySchema": [{"AttributeName": name, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"}],
        }
    }


#: AWS's recovery period when none is reported (the only period before 2025).
DEFAULT_RECOVERY_DAYS = 35


class PitrParams(CheckParams):
    min_recovery_days: int = Field(
        35, ge=1, le=35, description="Shortest acceptable PITR recovery period, in days."
    )


@check(
    id="dynamodb-pitr-enabled",
    passes="PITR `ENABLED` with `RecoveryPeriodInDays` ≥ `min_recovery_days` (35)",
    examples=Examples(
        compliant=(_pitr(35),),
        deviation=Deviation("a 7-day recovery window", (_pitr(7),)),
    ),
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
    ``min_recovery_days``. A period DynamoDB cannot have (not a whole number from 1 to 35:
    Infinity, NaN, negative) is an error naming the field, never a pass."""
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
    if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= 35:
        raise ImpossibleValue(
            f"RecoveryPeriodInDays is {period!r}: DynamoDB keeps a whole number of days "
            "from 1 to 35"
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
    passes="Time to Live is `ENABLED` (on `attribute_name` if set)",
    examples=Examples(
        compliant=(
            Call(
                "dynamodb",
                "update_time_to_live",
                {
                    "TableName": "{name}",
                    "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires_at"},
                },
            ),
        ),
        deviation=Deviation("Time to Live never enabled"),
    ),
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


class LockTableParams(CheckParams):
    hash_key: str = Field("LockID", description="Partition key Terraform locks on.")


@check(
    id="terraform-lock-table-ready",
    passes="`aiconnectors-terraform-lock-{env}` is ACTIVE with partition key `LockID` of type S "
    "and no sort key",
    examples=Examples(
        at_creation=_partition_key("LockID"),
        deviation=Deviation(
            "partition key `id` instead of `LockID`", at_creation=_partition_key("id")
        ),
    ),
    title="Terraform state lock table is active with the LockID key",
    resource_type="dynamodb_table",
    severity="medium",
    facts=("dynamodb_table.description",),
    remediation=(
        "Re-create {name} with partition key LockID (type S), as the Terraform S3 backend expects"
    ),
    params=LockTableParams,
)
def lock_table_ready(facts: Facts, params: LockTableParams) -> Verdict:
    """The table is ``ACTIVE``, its partition (HASH) key is ``hash_key`` of type S, and it
    has no sort (RANGE) key: Terraform's S3 backend writes lock items with ``LockID`` only,
    which a table with a sort key refuses."""
    table = facts["dynamodb_table.description"]
    hash_keys = [k["AttributeName"] for k in table.get("KeySchema", []) if k["KeyType"] == "HASH"]
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    key = hash_keys[0] if hash_keys else None
    sort_keys = [k["AttributeName"] for k in table.get("KeySchema", []) if k["KeyType"] == "RANGE"]
    problems = []
    if table.get("TableStatus") != "ACTIVE":
        problems.append(f"table is {table.get('TableStatus')}")
    if key != params.hash_key or types.get(key) != "S":
        problems.append(f"partition key is {key} of type {types.get(key) if key else None}")
    if sort_keys:
        problems.append(
            f"sort key {sort_keys[0]}: the S3 backend writes lock items with "
            f"{params.hash_key} only, so every lock write is refused"
        )
    text = "; ".join(problems) or f"ACTIVE with partition key {key} (S)"
    return judge(
        not problems,
        text,
        f"ACTIVE with partition key {params.hash_key} (S)",
        expected={"TableStatus": "ACTIVE", "HashKey": params.hash_key, "AttributeType": "S"},
        observed={
            key: table.get(key) for key in ("TableStatus", "KeySchema", "AttributeDefinitions")
        },
    )


KeyOwner = Literal["aws_owned", "aws_managed", "customer_managed"]
AWS_MANAGED_ALIAS_PREFIX = "alias/aws/"
KEY_LABELS = {
    "aws_owned": "an AWS owned key",
    "aws_managed": "an AWS managed KMS key",
    "customer_managed": "a customer managed KMS key",
}


class TableEncryptionParams(CheckParams):
    allowed: KeyOwner | Annotated[list[KeyOwner], Field(min_length=1)] = Field(
        default="aws_managed",
        description="Acceptable key kinds: aws_owned (DynamoDB default), aws_managed "
        "(aws/dynamodb), customer_managed. A single value or a list.",
    )

    @property
    def kinds(self) -> list[str]:
        return [self.allowed] if isinstance(self.allowed, str) else list(self.allowed)


def key_owner(sse: dict[str, Any] | None, key: dict[str, Any] | None) -> str:
    """aws_owned, aws_managed or customer_managed, from the table's SSE description and
    its KMS key; a key in transition is named by its status."""
    status = (sse or {}).get("Status")
    if status in (None, "DISABLED"):
        return "aws_owned"
    if status != "ENABLED":
        return f"changing ({status})"
    key = key or {}
    aliases = key.get("Aliases", [])
    if key.get("KeyManager") == "AWS" or any(
        a.startswith(AWS_MANAGED_ALIAS_PREFIX) for a in aliases
    ):
        return "aws_managed"
    return "customer_managed"


@check(
    id="dynamodb-encryption-at-rest",
    passes="the table's key is of an `allowed` kind: `aws_owned`, `aws_managed` (default) or "
    "`customer_managed`",
    examples=Examples(
        at_creation={"create_table": {"SSESpecification": {"Enabled": True, "SSEType": "KMS"}}},
        deviation=Deviation(
            "encrypted with a customer managed key",
            at_creation={
                "create_table": {
                    "SSESpecification": {
                        "Enabled": True,
                        "SSEType": "KMS",
                        "KMSMasterKeyId": "{new_kms_key_arn}",
                    }
                }
            },
        ),
    ),
    title="DynamoDB table is encrypted with the required kind of KMS key",
    resource_type="dynamodb_table",
    severity="medium",
    facts=("dynamodb_table.description", "dynamodb_table.kms_key"),
    remediation=(
        "aws dynamodb update-table --table-name {name} --sse-specification "
        "Enabled=true,SSEType=KMS  (AWS managed key aws/dynamodb)"
    ),
    params=TableEncryptionParams,
)
def table_encryption(facts: Facts, params: TableEncryptionParams) -> Verdict:
    """The table's encryption key is of an allowed kind. The AWS managed key is told
    apart from customer managed keys by KeyManager or its reserved ``alias/aws/`` alias."""
    sse = facts["dynamodb_table.description"].get("SSEDescription")
    key = facts["dynamodb_table.kms_key"]
    owner = key_owner(sse, key)
    return judge(
        owner in params.kinds,
        f"encrypted with {KEY_LABELS[owner]}" if owner in KEY_LABELS else f"encryption is {owner}",
        " or ".join(KEY_LABELS[kind] for kind in params.kinds),
        expected={"key": params.kinds},
        observed={"SSEDescription": sse, "key": key, "kind": owner},
    )
