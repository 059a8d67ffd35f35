"""DynamoDB tables: the resource type, and its facts: continuous backups (PITR), Time to
Live, the table description, the KMS key that encrypts it and its resource-based policy;
the resource-based policies of every table and stream of the account (who else a table
lets in); and the account's IAM roles and users."""

import json
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from policycheck.plugin.examples import Call
from policycheck.plugin.facts import FactSpec, FetchContext, UnknownAnswer
from policycheck.plugin.resources import Listing, ResourceType
from policycheck.sources.aws.ecs import ECS_SERVICE
from policycheck.sources.aws.iam import account_principals_fact

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


#: GetResourcePolicy's answer for a table or stream without a resource-based policy.
NO_RESOURCE_POLICY = "PolicyNotFoundException"


def _stream_arns(streams: Any) -> list[str]:
    """Every stream of the account and region (ListStreams pages by the last stream)."""
    arns: list[str] = []
    request: dict[str, Any] = {}
    while True:
        page = streams.list_streams(**request)
        fresh = [stream["StreamArn"] for stream in page.get("Streams", [])]
        arns += fresh
        last = page.get("LastEvaluatedStreamArn")
        if not last:
            return arns
        if not fresh or last == request.get("ExclusiveStartStreamArn"):
            raise UnknownAnswer("ListingStalled", f"ListStreams did not move past {last}")
        request["ExclusiveStartStreamArn"] = last


def _resource_policies(ctx: FetchContext) -> dict[str, Any]:
    """The resource-based policy of every table and stream of the account and region, by
    ARN (None: the resource has none). A resource policy can let another role in from the
    table's side; any answer but PolicyNotFoundException leaves the fact unknown."""
    dynamodb = ctx.client("dynamodb")
    prefix = f"arn:aws:dynamodb:{ctx.region}:{ctx.account_id}:table/"
    arns = [
        prefix + name
        for page in dynamodb.get_paginator("list_tables").paginate()
        for name in page["TableNames"]
    ] + _stream_arns(ctx.client("dynamodbstreams"))
    return {arn: ctx.memo(_policy_key(arn), partial(_read_policy, dynamodb, arn)) for arn in arns}


def _policy_key(arn: str) -> tuple[str, str]:
    """The memo key of a table's or stream's resource policy: read once per run however
    many facts ask."""
    return ("dynamodb-resource-policy", arn)


def _read_policy(dynamodb: Any, arn: str) -> Any:
    """The resource-based policy of a table or stream (None: it has none)."""
    try:
        answer = dynamodb.get_resource_policy(ResourceArn=arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != NO_RESOURCE_POLICY:
            raise
        return None
    return json.loads(answer["Policy"])


def _table_resource_policy(ctx: FetchContext) -> Any:
    arn = f"arn:aws:dynamodb:{ctx.region}:{ctx.account_id}:table/{ctx.name}"
    return ctx.memo(_policy_key(arn), partial(_read_policy, ctx.client("dynamodb"), arn))


#: The table's own resource-based policy (None: it has none).
RESOURCE_POLICY = _table_fact(
    "dynamodb_table.resource_policy",
    ("dynamodb:GetResourcePolicy",),
    _table_resource_policy,
    uses_memo=True,
)
#: Every role and user of the account with its policies: who else can write a table.
ACCOUNT_PRINCIPALS = account_principals_fact("dynamodb_account.iam_principals", DYNAMODB_TABLE)

RESOURCE_POLICIES = FactSpec(
    "dynamodb_account.resource_policies",
    ECS_SERVICE,
    ("dynamodb:GetResourcePolicy", "dynamodb:ListTables", "dynamodb:ListStreams"),
    _resource_policies,
    scope="account",
    uses_memo=True,
)
