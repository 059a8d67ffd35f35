"""IAM checks: each MCP's token table is reachable by its own ECS task role only."""

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from policycheck.collectors.ecs import DEMO_TASK_ROLE
from policycheck.examples import Call, Deviation, Examples, Json
from policycheck.policydocs import as_list
from policycheck.registry import RESOURCE, CheckParams, Facts, Verdict, check, judge
from policycheck.templates import expand, name_template
from policycheck.wildcards import wildcard_match


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


def _grants_dynamodb(statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotAction" in statement:
        return not any(
            wildcard_match(p, "dynamodb:*", case_sensitive=False)
            for p in as_list(statement["NotAction"])
        )
    return any(
        p == "*" or p.lower().startswith("dynamodb:") for p in as_list(statement.get("Action"))
    )


def _reaches(statement: dict[str, Any], table_arn: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard_match(p, table_arn) for p in as_list(statement["NotResource"]))
    return any(wildcard_match(p, table_arn) for p in as_list(statement.get("Resource")))


def _beyond(statement: dict[str, Any], table_arn: str) -> list[str]:
    """Resources a statement names beyond the table and its indexes and streams."""
    if "NotResource" in statement:
        return [f"NotResource {statement['NotResource']}"]
    return [
        p
        for p in as_list(statement.get("Resource"))
        if p != table_arn and not p.startswith(table_arn + "/")
    ]


@check(
    id="dynamodb-access-isolated",
    passes="the MCP's task role grants DynamoDB actions only on its own token table (no `*`, no "
    "other table), and no other service's task role in the cluster reaches that table (inline "
    "and attached policies, IAM wildcards count, roles of deployments and task sets still "
    "running included; a service ECS lists but cannot describe is an error)",
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
    facts=("ecs_cluster.task_roles",),
    remediation=(
        "Scope the DynamoDB statements of {name}'s task role to its own table ARN and remove "
        "that table from every other task role"
    ),
    params=IsolationParams,
)
def access_isolated(facts: Facts, params: IsolationParams) -> Verdict:
    """The service's task role grants DynamoDB actions only on its own token table (no
    ``*`` and no other table), and no other service's task role in the cluster grants any
    DynamoDB action on that table. IAM wildcards in actions and resources count.

    Every service of the cluster is judged by its task role (``taskRoleArn``; the
    execution role is the ECS agent's, not the containers'), and by the task roles of
    older deployments and task sets still running. A service ECS lists but does not
    describe (a ``failures`` entry, MISSING included), a task definition or a role policy
    that cannot be read leaves the fact unknown: the result is an error."""
    resource = facts[RESOURCE]
    table = expand(params.table, resource["variables"])
    table_arn = f"arn:aws:dynamodb:{resource['region']}:{resource['account_id']}:table/{table}"
    services = facts["ecs_cluster.task_roles"] or {}
    own = services.get(resource["name"])
    expected = {"own_role": f"DynamoDB on {table_arn} only", "other_roles": "no access"}
    expected_text = f"DynamoDB access to {table} from this service's task role only"
    if own is None:
        return judge(
            False,
            f"service is not in cluster {resource['parent']}",
            expected_text,
            expected=expected,
            observed=sorted(services),
        )
    problems = []
    own_statements = [s for s in own["statements"] if _grants_dynamodb(s)]
    for statement in own_statements:
        for extra in _beyond(statement, table_arn):
            problems.append(f"own task role grants DynamoDB on {extra} ({statement['Source']})")
    reaching = []
    for name, other in sorted(services.items()):
        if name == resource["name"]:
            continue
        for statement in other["statements"]:
            if _grants_dynamodb(statement) and _reaches(statement, table_arn):
                reaching.append(
                    {"service": name, "task_role_arn": other["task_role_arn"], **statement}
                )
                problems.append(f"task role of {name} can reach the table ({statement['Source']})")
    text = "; ".join(dict.fromkeys(problems)) or (
        f"only {own['task_role_arn'] or 'no task role'} reaches {table}"
    )
    observed = {
        "table": table_arn,
        "task_role_arn": own["task_role_arn"],
        "own_dynamodb_statements": own_statements,
        "other_roles_reaching": reaching,
    }
    return judge(not problems, text, expected_text, expected=expected, observed=observed)
