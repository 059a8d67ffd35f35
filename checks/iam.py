"""IAM checks: each MCP's token table is reachable by its own ECS task role only."""

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from policycheck.iam.evaluator import Decision, Policy, Principal, Target, evaluate
from policycheck.plugin.check import RESOURCE, CheckParams, Facts, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples, Json
from policycheck.policy.templates import expand, name_template
from policycheck.sources.aws.ecs import DEMO_TASK_ROLE


def _token_cache_policy(*other_tables: str) -> Call:
    """The demo task role's policy: its own table (``params.table``) and its indexes, and
    ``other_tables``."""
    prefix = "arn:aws:dynamodb:{region}:{account_id}:table/"
    resources = [prefix + "{params.table}", prefix + "{params.table}/index/*"]
    return Call(
        "iam",
        "put_role_policy",
        {
            "RoleName": DEMO_TASK_ROLE,
            "PolicyName": "token-cache",
            "PolicyDocument": Json(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TokenCache",
                            "Effect": "Allow",
                            "Action": [
                                "dynamodb:GetItem",
                                "dynamodb:PutItem",
                                "dynamodb:DeleteItem",
                                "dynamodb:Query",
                            ],
                            "Resource": resources + [prefix + table for table in other_tables],
                        }
                    ],
                }
            ),
        },
    )


class IsolationParams(CheckParams):
    table: Annotated[str, AfterValidator(name_template)] = Field(
        "mcp-oauth-storage-{mcp}-{env}",
        description="The service's own token table; {mcp} {env} {region} as in names.",
    )


#: DynamoDB's item writes and their PartiQL forms (Service Authorization Reference).
ITEM_WRITES = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)
#: The DynamoDB actions that read, copy or change a token table's items, from the Service
#: Authorization Reference for DynamoDB ("Actions defined by Amazon DynamoDB"): item reads
#: and writes (a write's ReturnValues returns the old item) on ``table``; Query, Scan and
#: PartiQLSelect also on ``index``; copies (a backup, a point-in-time restore, an export to
#: S3, a replica, an AWS Backup job) on ``table``; GetRecords and GetShardIterator on
#: ``stream``; RestoreTableFromBackup on ``backup``; and PutResourcePolicy, which lets
#: anyone in. Metadata actions (DescribeTable, ListTables) show no item.
TOKEN_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PartiQLSelect",
    "dynamodb:ConditionCheckItem",
    *ITEM_WRITES,
    "dynamodb:CreateBackup",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:ExportTableToPointInTime",
    "dynamodb:CreateTableReplica",
    "dynamodb:StartAwsBackupJob",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:PutResourcePolicy",
)
#: What DynamoDB authorises under a table's ARN: ``table/T/index/I`` (a GSI that projects
#: every attribute returns every token), ``stream/S``, ``backup/B`` and ``export/E``.
SUB_RESOURCES = ("index", "stream", "backup", "export")
#: Every table and sub-resource ARN of any account and region.
ANY_TABLE = "arn:*:dynamodb:*:*:table/*"
#: Which resources, with which resource-based policies, a question is asked about.
Question = tuple[tuple[Target, ...], tuple[Policy, ...]]


def _principals(service: dict[str, Any]) -> list[Principal]:
    """Each role a service's tasks run as, with its identity policies (statements grouped
    by the policy they came from) and its permissions boundary."""
    roles = [service["task_role_arn"], *service.get("other_task_role_arns", [])]
    sources: dict[str, dict[str, list[dict[str, Any]]]] = {r: {} for r in roles if r}
    for statement in service["statements"]:
        role = statement.get("Role") or service["task_role_arn"] or "no task role"
        body = {k: v for k, v in statement.items() if k not in ("Source", "Role")}
        sources.setdefault(role, {}).setdefault(statement["Source"], []).append(body)
    boundaries = service.get("permissions_boundaries") or {}
    return [
        Principal(
            role,
            tuple(Policy(name, {"Statement": found}) for name, found in policies.items()),
            Policy(b["policy"], {"Statement": b["statements"]})
            if (b := boundaries.get(role))
            else None,
        )
        for role, policies in sources.items()
    ]


def _resource_policy(arn: str, policies: dict[str, Any]) -> tuple[Policy, ...]:
    """The resource-based policy of ``arn``, if it has one."""
    document = policies.get(arn)
    return (Policy(f"resource policy of {arn}", document),) if document else ()


def _table_questions(table_arn: str, policies: dict[str, Any]) -> list[Question]:
    """The table, its indexes, streams, backups and exports, with the table's resource
    policy (which governs the table and its indexes) and each stream's own."""
    streams = [arn for arn in policies if arn.startswith(f"{table_arn}/stream/")]
    return [
        (
            (Target(table_arn), Target(f"{table_arn}/index/?*")),
            _resource_policy(table_arn, policies),
        ),
        (tuple(Target(f"{table_arn}/{kind}/?*") for kind in SUB_RESOURCES[1:]), ()),
        *(((Target(arn),), _resource_policy(arn, policies)) for arn in streams if policies[arn]),
    ]


def _other_tables_questions(table_arn: str, policies: dict[str, Any]) -> list[Question]:
    """Every table but ``table_arn`` and its sub-resources, with their resource policies."""
    own = (table_arn, f"{table_arn}/*")
    others = [arn for arn in policies if policies[arn] and not arn.startswith(f"{table_arn}/")]
    return [
        ((Target(ANY_TABLE, own),), ()),
        *(
            ((Target(arn), Target(f"{arn}/?*")), _resource_policy(arn, policies))
            for arn in others
            if arn != table_arn
        ),
    ]


def _reach(principal: Principal, questions: list[Question]) -> Decision | None:
    """The first answer that lets ``principal`` perform a token action; None: none does."""
    for targets, resource_policies in questions:
        decision = evaluate(principal, TOKEN_ACTIONS, targets, resource_policies)
        if decision.allowed:
            return decision
    return None


def _described(decision: Decision) -> str:
    return ", ".join(str(ref) for ref in decision.deciding)


def _evidence(principal: Principal, decision: Decision) -> dict[str, Any]:
    return {
        "task_role_arn": principal.arn,
        "actions": list(decision.actions),
        "statements": [str(ref) for ref in decision.deciding],
        "conditional": [str(ref) for ref in decision.conditional],
    }


@check(
    id="dynamodb-access-isolated",
    passes="the MCP's task role can perform no token action (item reads and writes, "
    "backups, restores, exports, stream reads, resource policies: the Service Authorization "
    "Reference's list) on any table but its own, and no other service's task role in the "
    "cluster can perform one on the table or its indexes, streams, backups and exports; "
    "decided by the IAM evaluator (explicit Deny wins, permissions boundaries, managed "
    "policies' default versions, the tables' and streams' resource policies; a conditional "
    "Allow counts as granting and a conditional Deny as not denying; roles of deployments "
    "and task sets still running included; a service ECS lists but cannot describe is an error)",
    examples=Examples(
        compliant=(_token_cache_policy(),),
        deviation=Deviation(
            "its task role also reaches the Terraform lock table",
            (_token_cache_policy("aiconnectors-terraform-lock-{env}"),),
        ),
    ),
    title="Only the MCP's own ECS task role can reach its token table",
    resource_type="ecs_service",
    severity="high",
    facts=("ecs_cluster.task_roles", "dynamodb_account.resource_policies"),
    remediation=(
        "Scope the DynamoDB statements of {name}'s task role to its own table ARN (and its "
        "sub-resources), and remove that table, its indexes, streams, backups and exports "
        "from every other task role and from the table's resource policy"
    ),
    params=IsolationParams,
)
def access_isolated(facts: Facts, params: IsolationParams) -> Verdict:
    """The service's task role can perform no token action (``TOKEN_ACTIONS``) on any
    table but its own, and no other service's task role in the cluster can perform one on
    the table or on its indexes, streams, backups and exports (``SUB_RESOURCES``), as
    ``policycheck.iam.evaluator`` decides: explicit Denies, permissions boundaries and the
    resource-based policies of the tables and streams count; conditions are read so that
    an unknown condition never hides a reach.

    Every service of the cluster is judged by its task role (``taskRoleArn``; the
    execution role is the ECS agent's, not the containers'), and by the task roles of
    older deployments and task sets still running. A service ECS lists but does not
    describe (a ``failures`` entry, MISSING included), a task definition, a role policy
    or a resource policy that cannot be read leaves the fact unknown: the result is an error."""
    resource = facts[RESOURCE]
    table = expand(params.table, resource["variables"])
    table_arn = f"arn:aws:dynamodb:{resource['region']}:{resource['account_id']}:table/{table}"
    services = facts["ecs_cluster.task_roles"] or {}
    policies = facts["dynamodb_account.resource_policies"] or {}
    own = services.get(resource["name"])
    expected = {
        "own_role": f"token actions on {table_arn} and its sub-resources only",
        "other_roles": "no token action on the table, its indexes, streams, backups, exports",
    }
    expected_text = f"access to {table}'s tokens from this service's task role only"
    if own is None:
        return judge(
            False,
            f"service is not in cluster {resource['parent']}",
            expected_text,
            expected=expected,
            observed=sorted(services),
        )
    problems, own_reach, reaching = [], [], []
    for principal in _principals(own):
        decision = _reach(principal, _other_tables_questions(table_arn, policies))
        if decision is not None:
            own_reach.append(_evidence(principal, decision))
            problems.append(
                f"own task role {principal.arn} can reach tables other than {table} "
                f"({_described(decision)})"
            )
    table_questions = _table_questions(table_arn, policies)
    for name, other in sorted(services.items()):
        if name == resource["name"]:
            continue
        for principal in _principals(other):
            decision = _reach(principal, table_questions)
            if decision is not None:
                reaching.append({"service": name, **_evidence(principal, decision)})
                problems.append(f"task role of {name} can reach the table ({_described(decision)})")
    text = "; ".join(problems) or (f"only {own['task_role_arn'] or 'no task role'} reaches {table}")
    observed = {
        "table": table_arn,
        "task_role_arn": own["task_role_arn"],
        "own_role_beyond_its_table": own_reach,
        "other_roles_reaching": reaching,
    }
    return judge(not problems, text, expected_text, expected=expected, observed=observed)
