"""ECS facts: a service's deployment state, and what the task roles of every service in a
cluster may do (read from IAM)."""

from typing import Any

from policycheck.facts import FactSpec, FetchContext, ResourceMissing, register_fact
from policycheck.policydocs import statements as policy_statements

DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services per call


def _service(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("ecs").describe_services(cluster=ctx.parent, services=[ctx.name])
    if not response["services"]:
        raise ResourceMissing(ctx.name)
    service = response["services"][0]
    keys = ("status", "desiredCount", "runningCount", "pendingCount", "taskDefinition")
    deployment_keys = ("status", "rolloutState", "desiredCount", "runningCount", "taskDefinition")
    return {
        **{key: service.get(key) for key in keys},
        "deployments": [
            {key: d.get(key) for key in deployment_keys} for d in service.get("deployments", [])
        ],
    }


def _role_statements(iam: Any, role_arn: str) -> list[dict[str, Any]]:
    """Every statement of a role's inline and attached policies, labelled by source."""
    role = role_arn.rsplit("/", 1)[-1]
    statements: list[dict[str, Any]] = []

    def add(source: str, document: dict[str, Any]) -> None:
        statements.extend({"Source": source, **s} for s in policy_statements(document))

    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page["PolicyNames"]:
            add(
                f"inline:{name}",
                iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"],
            )
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            add(
                arn,
                iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"][
                    "Document"
                ],
            )
    return statements


def _cluster_task_roles(ctx: FetchContext) -> dict[str, Any]:
    """For every service of the cluster: its task definition, task role and the role's
    policy statements."""
    ecs, iam = ctx.client("ecs"), ctx.client("iam")
    arns = [
        arn
        for page in ecs.get_paginator("list_services").paginate(cluster=ctx.parent)
        for arn in page["serviceArns"]
    ]
    services: dict[str, Any] = {}
    for start in range(0, len(arns), DESCRIBE_BATCH):
        batch = arns[start : start + DESCRIBE_BATCH]
        for service in ecs.describe_services(cluster=ctx.parent, services=batch)["services"]:
            task_definition = ecs.describe_task_definition(
                taskDefinition=service["taskDefinition"]
            )["taskDefinition"]
            role_arn = task_definition.get("taskRoleArn")
            statements = (
                ctx.memo(("role-statements", role_arn), lambda a=role_arn: _role_statements(iam, a))
                if role_arn
                else []
            )
            services[service["serviceName"]] = {
                "task_definition": service["taskDefinition"],
                "task_role_arn": role_arn,
                "statements": statements,
            }
    return services


SERVICE = register_fact(
    FactSpec(
        "ecs_service.description",
        "ecs_service",
        ("ecs:DescribeServices",),
        _service,
    )
)
CLUSTER_TASK_ROLES = register_fact(
    FactSpec(
        "ecs_cluster.task_roles",
        "ecs_service",
        (
            "ecs:ListServices",
            "ecs:DescribeServices",
            "ecs:DescribeTaskDefinition",
            "iam:ListRolePolicies",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:GetPolicy",
            "iam:GetPolicyVersion",
        ),
        _cluster_task_roles,
        scope="parent",
        uses_memo=True,
    )
)
