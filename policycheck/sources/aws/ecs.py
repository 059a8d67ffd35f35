"""ECS services: the resource type, and its facts: a service's deployment state, and what
the task roles of every service in its cluster may do (read from IAM)."""

from collections.abc import Callable
from typing import Any

from policycheck.plugin.examples import Call, Json
from policycheck.plugin.facts import FactSpec, FetchContext, ResourceMissing, UnknownAnswer
from policycheck.plugin.resources import Listing, ListingScope, ResourceType
from policycheck.sources.aws.iam import role_boundary, role_statements

DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services per call
#: The one DescribeServices failure reason that means "no such service" (ECS developer
#: guide, "API failure reasons"); any other reason leaves the service unknown.
MISSING = "MISSING"
#: The task role the demo gives each service.
DEMO_TASK_ROLE = "{name}-{env}-task"


def _in_cluster(scope: ListingScope) -> dict[str, Any]:
    return {"cluster": scope.parent}


ECS_SERVICE = ResourceType(
    name="ecs_service",
    label="ECS service",
    missing_codes=frozenset({"ClusterNotFoundException", "ServiceNotFoundException"}),
    arn_template="arn:aws:ecs:{region}:{account_id}:service/{parent}/{name}",
    parent_label="cluster",
    # CreateService serviceName and CreateCluster clusterName: up to 255 characters.
    max_name_length=255,
    max_parent_length=255,
    listing=Listing(
        action="ecs:ListServices",
        service="ecs",
        operation="list_services",
        items="serviceArns",
        name="arn",
        page_size=100,
        request=_in_cluster,
    ),
    example=(
        Call("ecs", "create_cluster", {"clusterName": "{parent}"}),
        Call(
            "iam",
            "create_role",
            {
                "RoleName": DEMO_TASK_ROLE,
                "AssumeRolePolicyDocument": Json(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                            }
                        ],
                    }
                ),
            },
            ignore=("EntityAlreadyExists",),
        ),
        Call(
            "ecs",
            "register_task_definition",
            {
                "family": "{name}-{env}",
                "taskRoleArn": "arn:aws:iam::{account_id}:role/" + DEMO_TASK_ROLE,
                "containerDefinitions": [{"name": "app", "image": "{name}:latest", "memory": 512}],
            },
        ),
        Call(
            "ecs",
            "create_service",
            {
                "cluster": "{parent}",
                "serviceName": "{name}",
                "taskDefinition": "{name}-{env}",
                "desiredCount": 1,
            },
        ),
    ),
)


def _failure_text(failures: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{f.get('arn') or '?'}: {f.get('reason') or 'no reason'}"
        + (f" ({f['detail']})" if f.get("detail") else "")
        for f in failures
    )


def _service(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("ecs").describe_services(cluster=ctx.parent, services=[ctx.name])
    services, failures = response.get("services") or [], response.get("failures") or []
    if not services:
        if failures and all(f.get("reason") == MISSING for f in failures):
            raise ResourceMissing(ctx.name)
        if failures:
            raise UnknownAnswer(
                failures[0].get("reason") or "UnknownFailure",
                f"DescribeServices could not describe {ctx.name}: {_failure_text(failures)}",
            )
        raise UnknownAnswer(
            "ServiceNotDescribed", f"DescribeServices returned neither {ctx.name} nor a failure"
        )
    service = services[0]
    keys = ("status", "desiredCount", "runningCount", "pendingCount", "taskDefinition")
    deployment_keys = ("status", "rolloutState", "desiredCount", "runningCount", "taskDefinition")
    return {
        **{key: service.get(key) for key in keys},
        "deployments": [
            {key: d.get(key) for key in deployment_keys} for d in service.get("deployments", [])
        ],
    }


def _described(ecs: Any, cluster: str, batch: list[str]) -> list[dict[str, Any]]:
    """DescribeServices for listed services: every one of them, or UnknownAnswer. A listed
    service that comes back under ``failures`` (even MISSING: deleted since the listing,
    or not readable) or not at all is unknown, so the cluster's isolation is unknown."""
    response = ecs.describe_services(cluster=cluster, services=batch)
    failures = response.get("failures") or []
    if failures:
        raise UnknownAnswer(
            failures[0].get("reason") or "UnknownFailure",
            f"DescribeServices could not describe {_failure_text(failures)}",
        )
    services = response.get("services") or []
    described = {service.get("serviceName") for service in services}
    # ListServices gives ARNs (old or new format); the name is the last segment of both.
    left_out = [arn for arn in batch if arn.rsplit("/", 1)[-1] not in described]
    if left_out:
        raise UnknownAnswer(
            "ServiceNotDescribed",
            f"DescribeServices returned neither a description nor a failure for "
            f"{', '.join(left_out)}",
        )
    return services


def _task_definitions(service: dict[str, Any]) -> list[str]:
    """Every task definition the service may be running tasks of: its own, that of each
    deployment not INACTIVE (a rolling update runs old and new tasks side by side), and
    that of each task set (CODE_DEPLOY and EXTERNAL deployment controllers)."""
    candidates = [service.get("taskDefinition")]
    for group in ("deployments", "taskSets"):
        candidates += [
            item.get("taskDefinition")
            for item in service.get(group) or []
            if item.get("status") != "INACTIVE"
        ]
    return list(dict.fromkeys(arn for arn in candidates if arn))


def _cluster_task_roles(ctx: FetchContext) -> dict[str, Any]:
    """For every service of the cluster: its task definitions, their task roles and the
    roles' policy statements. Only the task role (``taskRoleArn``) is what the
    containers' code runs as; the execution role (``executionRoleArn``) is used by the
    ECS agent to pull images and read secrets and is not read here. A task definition
    without a task role gives its containers no AWS permissions (no statements).
    Statements of a role other than the current task definition's (a deployment still
    running, a task set) name that role in their ``Source`` and ``Role``. The permissions
    boundary of each role that has one is under ``permissions_boundaries``."""
    ecs, iam = ctx.client("ecs"), ctx.client("iam")
    arns = [
        arn
        for page in ecs.get_paginator("list_services").paginate(cluster=ctx.parent)
        for arn in page["serviceArns"]
    ]

    def task_role(arn: str) -> str | None:
        definition = ctx.memo(
            ("task-definition", ctx.account_id, ctx.region, arn),
            lambda: ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"],
        )
        role: str | None = definition.get("taskRoleArn")
        return role

    def role(role_arn: str) -> RoleReach:
        reach: RoleReach = ctx.memo(
            ("role-statements", ctx.account_id, role_arn),
            lambda: (
                role_statements(iam, role_arn, ctx.account_id),
                role_boundary(iam, role_arn, ctx.account_id),
            ),
        )
        return reach

    services: dict[str, Any] = {}
    for start in range(0, len(arns), DESCRIBE_BATCH):
        batch = arns[start : start + DESCRIBE_BATCH]
        for service in _described(ecs, ctx.parent, batch):
            definitions = _task_definitions(service)
            roles = {arn: task_role(arn) for arn in definitions}
            services[service["serviceName"]] = _service_roles(service, roles, role)
    return services


#: A role's statements and its permissions boundary (None: none).
RoleReach = tuple[list[dict[str, Any]], dict[str, Any] | None]


def _service_roles(
    service: dict[str, Any], roles: dict[str, str | None], role: Callable[[str], RoleReach]
) -> dict[str, Any]:
    """A service's entry of ``ecs_cluster.task_roles``: its task role's statements, those
    of the roles of other task definitions still running (labelled with the role), and
    the permissions boundaries of the roles that have one."""
    current = service.get("taskDefinition")
    role_arn = roles.get(current or "")
    statements = list(role(role_arn)[0]) if role_arn else []
    others = [r for r in dict.fromkeys(roles.values()) if r and r != role_arn]
    for other in others:
        statements += [
            {**statement, "Source": f"{statement['Source']} of {other}", "Role": other}
            for statement in role(other)[0]
        ]
    boundaries = {
        arn: boundary
        for arn in ([role_arn] if role_arn else []) + others
        if (boundary := role(arn)[1]) is not None
    }
    entry: dict[str, Any] = {
        "task_definition": current,
        "task_role_arn": role_arn,
        "statements": statements,
    }
    if list(roles) != [current]:
        entry["other_task_definitions"] = [arn for arn in roles if arn != current]
        entry["other_task_role_arns"] = others
    if boundaries:
        entry["permissions_boundaries"] = boundaries
    return entry


SERVICE = FactSpec("ecs_service.description", ECS_SERVICE, ("ecs:DescribeServices",), _service)
CLUSTER_TASK_ROLES = FactSpec(
    "ecs_cluster.task_roles",
    ECS_SERVICE,
    (
        "ecs:ListServices",
        "ecs:DescribeServices",
        "ecs:DescribeTaskDefinition",
        "iam:GetRole",
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
