"""DynamoDB facts from a plan's ``aws_dynamodb_table``, in the shapes of
``policycheck.sources.aws.dynamodb``.

A computed argument the configuration does not set takes AWS's default (the rule for every
provider generation and plan format: the fact the live audit reads after the apply): PITR
unset, or known only after apply and not configured, is disabled; a PITR recovery
period left unset is the 35 days AWS applies (reported without ``RecoveryPeriodInDays``,
as DescribeContinuousBackups does), and encryption enabled without a key is the AWS
managed key ``alias/aws/dynamodb``. A key the configuration names is customer managed when
it is an ``aws_kms_key`` of the plan, AWS managed when it is the ``alias/aws/dynamodb``
alias (a ``data.aws_kms_key`` says which, and a ``data.aws_kms_alias`` by its name: its
``alias/aws/`` aliases are AWS's); any other key cannot be told from the plan.
A known value wins over the configuration: a computed argument the configuration leaves
unset keeps what AWS has."""

from typing import Any

from policycheck.plugin.plans import PlanGap, PlannedType, PlanReader
from policycheck.sources.terraform.common import Subject, policy_document
from policycheck.sources.terraform.iam import ACCOUNT_IAM
from policycheck.sources.terraform.state import Instance, Node, PlanState, Unknowable

AWS_MANAGED_ALIAS = "alias/aws/dynamodb"
AWS_ALIASES = "alias/aws/"
ALIAS = "aws_kms_alias"
DYNAMODB_TABLE = PlannedType(
    resource_type="dynamodb_table",
    tf_type="aws_dynamodb_table",
    name_attr="name",
    destroys="its items",
)


def continuous_backups(state: PlanState, subject: Subject) -> Any:
    table = subject.instance.node
    pitr = (
        None if table.defaulted("point_in_time_recovery") else table.first("point_in_time_recovery")
    )
    enabled = pitr.flag("enabled") if pitr is not None else False
    description: dict[str, Any] = {
        "PointInTimeRecoveryStatus": "ENABLED" if enabled else "DISABLED"
    }
    if enabled and pitr is not None:
        days = _recovery_period(pitr)
        if days is not None:
            description["RecoveryPeriodInDays"] = days
    return {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": description}


CONTINUOUS_BACKUPS = PlanReader(fact="dynamodb_table.continuous_backups", read=continuous_backups)


def _recovery_period(pitr: Node) -> int | None:
    """The period the table will have; None: AWS's default (not set in the configuration,
    or a provider that predates the argument)."""
    if pitr.defaulted("recovery_period_in_days"):
        return None
    return pitr.number("recovery_period_in_days") or None


def time_to_live(state: PlanState, subject: Subject) -> Any:
    ttl = subject.instance.node.first("ttl")
    if ttl is None or not ttl.flag("enabled"):
        return {"TimeToLiveStatus": "DISABLED"}
    return {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl.get("attribute_name")}


TIME_TO_LIVE = PlanReader(fact="dynamodb_table.ttl", read=time_to_live)


def description(state: PlanState, subject: Subject) -> Any:
    """The table as DescribeTable will state it once the apply is done (Terraform waits
    for ACTIVE)."""
    table = subject.instance.node
    keys = [{"AttributeName": table.get("hash_key"), "KeyType": "HASH"}]
    if table.get("range_key"):
        keys.append({"AttributeName": table.get("range_key"), "KeyType": "RANGE"})
    described: dict[str, Any] = {
        "TableStatus": "ACTIVE",
        "KeySchema": keys,
        "AttributeDefinitions": [
            {"AttributeName": a.get("name"), "AttributeType": a.get("type")}
            for a in table.blocks("attribute")
        ],
    }
    sse = _encryption(table)
    if sse is not None and sse.flag("enabled"):
        described["SSEDescription"] = {"Status": "ENABLED", "SSEType": "KMS"}
        key = sse.optional("kms_key_arn")
        if key:
            described["SSEDescription"]["KMSMasterKeyArn"] = key
    return described


DESCRIPTION = PlanReader(fact="dynamodb_table.description", read=description)


def kms_key(state: PlanState, subject: Subject) -> Any:
    """Who manages the table's key; None when DynamoDB's AWS owned key is used. The
    provider leaves ``kms_key_arn`` empty for the AWS managed key."""
    sse = _encryption(subject.instance.node)
    if sse is None or not sse.flag("enabled"):
        return None
    if sse.unknown("kms_key_arn"):
        if not sse.configured("kms_key_arn"):
            return {"Arn": None, "KeyManager": "AWS"}  # enabled without a key
        key = sse.resolve("kms_key_arn", to="aws_kms_key")
        if key is not None:
            return {"Arn": key.node.optional("arn") or key.address, "KeyManager": "CUSTOMER"}
        alias = sse.resolve("kms_key_arn", to=ALIAS)
        if alias is not None:
            return {"Arn": alias.node.optional("target_key_arn"), "KeyManager": _manager(alias)}
    arn = sse.get("kms_key_arn")
    if not arn or arn == AWS_MANAGED_ALIAS or arn.endswith(":" + AWS_MANAGED_ALIAS):
        return {"Arn": arn or None, "KeyManager": "AWS"}
    if state.named("aws_kms_key", "arn", arn):
        return {"Arn": arn, "KeyManager": "CUSTOMER"}
    for described in _described_keys(state, arn):
        return {"Arn": arn, "KeyManager": described.get("key_manager")}
    for alias in state.of_type(ALIAS, mode="data"):
        if alias.node.optional("target_key_arn") == arn:
            return {"Arn": arn, "KeyManager": _manager(alias)}
    raise Unknowable(
        "KeyNotInPlan",
        f"{subject.instance.address}: who manages KMS key {arn} cannot be told from the plan "
        "(no aws_kms_key or data.aws_kms_key of it)",
    )


KMS_KEY = PlanReader(fact="dynamodb_table.kms_key", read=kms_key)


def _encryption(table: Node) -> Node | None:
    """The table's server_side_encryption block; None when unset (also unknown and not
    configured, on a new table): DynamoDB's AWS owned key."""
    return (
        None if table.defaulted("server_side_encryption") else table.first("server_side_encryption")
    )


def _manager(alias: Instance) -> str:
    """Who manages the key a ``data.aws_kms_alias`` names: AWS for its ``alias/aws/``
    aliases (no one else may create them, nor alias an AWS managed key)."""
    return "AWS" if str(alias.get("name")).startswith(AWS_ALIASES) else "CUSTOMER"


def _described_keys(state: PlanState, arn: str) -> list[Any]:
    return [
        key for key in state.of_type("aws_kms_key", mode="data") if key.node.optional("arn") == arn
    ]


def resource_policies(state: PlanState, subject: Subject) -> Any:
    """Every ``aws_dynamodb_resource_policy`` of the plans by the ARN it is attached to,
    in the shape of the live fact ``dynamodb_account.resource_policies``. An ARN known
    only after apply is the table it refers to; one the plan cannot name is unknown."""
    policies: dict[str, Any] = {}
    for attached in state.of_type("aws_dynamodb_resource_policy"):
        node = attached.node
        if node.unknown("resource_arn"):
            table = node.resolve("resource_arn", to="aws_dynamodb_table")
            if table is None:
                raise Unknowable(
                    "UnknownResourcePolicyTarget",
                    f"{attached.address}: the resource it is attached to is known only after apply",
                )
            arn = (
                f"arn:aws:dynamodb:{subject.region}:{subject.account_id}:table/{table.get('name')}"
            )
        else:
            arn = str(node.get("resource_arn"))
        policies[arn] = policy_document(node)
    return policies


RESOURCE_POLICIES = PlanReader(fact="dynamodb_account.resource_policies", read=resource_policies)
RESOURCE_POLICY = PlanGap(
    fact="dynamodb_table.resource_policy",
    why=(
        "the lock table's resource policy is judged only with every role and user of "
        "the account, which a plan cannot show"
    ),
)
ACCOUNT_PRINCIPALS = PlanGap(fact="dynamodb_account.iam_principals", why=ACCOUNT_IAM)
