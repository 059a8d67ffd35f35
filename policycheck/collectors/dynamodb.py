"""DynamoDB facts: continuous backups (PITR), Time to Live, the table description and
the KMS key that encrypts it."""

from typing import Any

from policycheck.facts import FactSpec, FetchContext, register_fact


def _continuous_backups(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("dynamodb").describe_continuous_backups(TableName=ctx.name)
    return response["ContinuousBackupsDescription"]


def _time_to_live(ctx: FetchContext) -> dict[str, Any]:
    return ctx.client("dynamodb").describe_time_to_live(TableName=ctx.name)["TimeToLiveDescription"]


def _description(ctx: FetchContext) -> dict[str, Any]:
    table = ctx.client("dynamodb").describe_table(TableName=ctx.name)["Table"]
    keys = ("TableStatus", "KeySchema", "AttributeDefinitions", "SSEDescription")
    return {key: table[key] for key in keys if key in table}


def _kms_key(ctx: FetchContext) -> dict[str, Any] | None:
    """Who manages the table's KMS key; None when DynamoDB's AWS owned key is used."""
    sse = ctx.deps["dynamodb_table.description"].get("SSEDescription") or {}
    key_arn = sse.get("KMSMasterKeyArn")
    if not key_arn:
        return None
    return ctx.memo(("kms-key", key_arn), lambda: _describe_key(ctx.client("kms"), key_arn))


def _describe_key(kms: Any, key_arn: str) -> dict[str, Any]:
    metadata = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    key = {"Arn": metadata["Arn"], "KeyManager": metadata.get("KeyManager")}
    if key["KeyManager"] != "AWS":
        aliases = kms.list_aliases(KeyId=metadata["KeyId"]).get("Aliases", [])
        key["Aliases"] = sorted(alias["AliasName"] for alias in aliases)
    return key


def _table_fact(name: str, actions: tuple[str, ...], fetch: Any, **options: Any) -> FactSpec:
    return register_fact(FactSpec(name, "dynamodb_table", actions, fetch, **options))


CONTINUOUS_BACKUPS = _table_fact(
    "dynamodb_table.continuous_backups",
    ("dynamodb:DescribeContinuousBackups",),
    _continuous_backups,
)
TIME_TO_LIVE = _table_fact("dynamodb_table.ttl", ("dynamodb:DescribeTimeToLive",), _time_to_live)
DESCRIPTION = _table_fact("dynamodb_table.description", ("dynamodb:DescribeTable",), _description)
KMS_KEY = _table_fact(
    "dynamodb_table.kms_key",
    ("kms:DescribeKey", "kms:ListAliases"),
    _kms_key,
    depends_on=("dynamodb_table.description",),
    uses_memo=True,
)
