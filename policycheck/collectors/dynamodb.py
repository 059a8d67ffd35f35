"""DynamoDB tables: the resource type, and its facts: continuous backups (PITR), Time to
Live, the table description and the KMS key that encrypts it."""

from typing import Any

from policycheck.examples import Call
from policycheck.facts import FactSpec, FetchContext
from policycheck.resources import Listing, ResourceType

DYNAMODB_TABLE = ResourceType(
    name="dynamodb_table",
    label="DynamoDB table",
    # DescribeContinuousBackups says TableNotFoundException, the others
    # ResourceNotFoundException (moto: ResourceNotFound).
    missing_codes=frozenset(
        {"TableNotFoundException", "ResourceNotFoundException", "ResourceNotFound"}
    ),
    arn_template="arn:aws:dynamodb:{region}:{account_id}:table/{name}",
    # CreateTable TableName: 3 to 255 characters.
    max_name_length=255,
    listing=Listing(
        action="dynamodb:ListTables",
        service="dynamodb",
        operation="list_tables",
        items="TableNames",
        page_size=100,
    ),
    example=(
        Call(
            "dynamodb",
            "create_table",
            {
                "TableName": "{name}",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
            ignore=("ResourceInUseException",),
        ),
    ),
)


def _continuous_backups(ctx: FetchContext) -> Any:
    response = ctx.client("dynamodb").describe_continuous_backups(TableName=ctx.name)
    return response["ContinuousBackupsDescription"]


def _time_to_live(ctx: FetchContext) -> Any:
    return ctx.client("dynamodb").describe_time_to_live(TableName=ctx.name)["TimeToLiveDescription"]


def _description(ctx: FetchContext) -> Any:
    table = ctx.client("dynamodb").describe_table(TableName=ctx.name)["Table"]
    keys = ("TableStatus", "KeySchema", "AttributeDefinitions", "SSEDescription")
    return {key: table[key] for key in keys if key in table}


def _kms_key(ctx: FetchContext) -> Any:
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
    return FactSpec(name, DYNAMODB_TABLE, actions, fetch, **options)


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
    depends_on=(DESCRIPTION,),
    uses_memo=True,
)
