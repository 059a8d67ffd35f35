"""ECS facts from a plan: what the task role of every ``aws_ecs_service`` of a cluster
may do, in the shape of ``policycheck.sources.aws.ecs`` (``ecs_cluster.task_roles``).

A service's task definition (``aws_ecs_task_definition``), its ``task_role_arn``
(``aws_iam_role``) and the role's policies (``inline_policy`` blocks,
``aws_iam_role_policy``, ``aws_iam_role_policy_attachment`` and ``managed_policy_arns``
of an ``aws_iam_policy``) must all be in the plans: one that is not (a task definition
registered by a deployment pipeline, an AWS managed policy) leaves the role's reach
unknown, an error. The plans show only their services; the live audit also judges
deployments still running older task definitions."""

import re
from typing import Any

from policycheck.iam.documents import statements as policy_statements
from policycheck.plugin.plans import PlanGap, PlannedType, PlanReader
from policycheck.sources.terraform.common import Subject, one, policy_document
from policycheck.sources.terraform.state import Instance, Node, PlanState, Unknowable

SERVICE = "aws_ecs_service"
CLUSTER = "aws_ecs_cluster"
TASK_DEFINITION = "aws_ecs_task_definition"
ROLE = "aws_iam_role"
POLICY = "aws_iam_policy"
ROLE_ARN = re.compile(r"arn:[^:]+:iam::(?P<account>\d*):role/(?:.*/)?(?P<name>[^/]+)")


def task_roles(state: PlanState, subject: Subject) -> Any:
    services: dict[str, Any] = {}
    for service in state.of_type(SERVICE):
        if cluster_name(service.node) != subject.parent:
            continue
        definition = _task_definition(state, service)
        role = _task_role(state, definition, subject.account_id)
        services[service.get("name")] = {
            "task_definition": definition.node.optional("arn") or definition.address,
            "task_role_arn": _role_arn(role, subject.account_id) if role else None,
            "statements": role_statements(state, role) if role else [],
        }
    return services


CLUSTER_TASK_ROLES = PlanReader(fact="ecs_cluster.task_roles", read=task_roles)
SERVICE_DESCRIPTION = PlanGap(
    fact="ecs_service.description",
    why="a plan cannot show whether a service's tasks are running and its deployment completed",
)


def cluster_name(service: Node) -> str:
    """The cluster's name: from its ARN or name, or the aws_ecs_cluster (or data source)
    the service refers to."""
    if service.unknown("cluster"):
        cluster = service.resolve("cluster", to=CLUSTER)
        if cluster is not None:
            return str(cluster.get("name" if cluster.mode == "managed" else "cluster_name"))
    return str(service.get("cluster")).rsplit("/", 1)[-1]


ECS_SERVICE = PlannedType(
    resource_type="ecs_service",
    tf_type=SERVICE,
    name_attr="name",
    parent=lambda service: cluster_name(service.node),
)


def _named(state: PlanState, tf_type: str, attr: str, value: str, missing: str) -> Instance:
    """The one instance of a type whose ``attr`` is ``value``; Unknowable ("NotInPlan",
    ``missing``) when the plans have none."""
    found = one(state.named(tf_type, attr, value), f"{tf_type} {value}")
    if found is None:
        raise Unknowable("NotInPlan", missing)
    return found


def _task_definition(state: PlanState, service: Instance) -> Instance:
    node = service.node
    if node.unknown("task_definition"):
        found = node.resolve("task_definition", to=TASK_DEFINITION)
        if found is not None:
            return found
    written = str(node.get("task_definition"))
    family = written.rsplit("/", 1)[-1].split(":")[0]
    return _named(
        state,
        TASK_DEFINITION,
        "family",
        family,
        f"{service.address}: task definition {written} is not in the plan, so its task role "
        "cannot be told",
    )


def _task_role(state: PlanState, definition: Instance, account_id: str) -> Instance | None:
    node = definition.node
    if node.unknown("task_role_arn"):
        role = node.resolve("task_role_arn", to=ROLE)
        if role is not None:
            return role
    arn = node.get("task_role_arn")
    if not arn:
        return None  # no task role: the containers get no AWS permissions
    match = ROLE_ARN.fullmatch(arn)
    if match and account_id and match["account"] != account_id:
        raise Unknowable(
            "CrossAccountTaskRole", f"task role {arn} is in account {match['account']}"
        )
    name = match["name"] if match else arn
    return _named(
        state, ROLE, "name", name, f"task role {arn} of {definition.address} is not in the plan"
    )


def _role_arn(role: Instance, account_id: str) -> str:
    known = role.node.optional("arn")
    if known:
        return str(known)
    path = role.node.optional("path") or "/"
    return f"arn:aws:iam::{account_id}:role{path}{role.get('name')}"


def _computed(node: Node, attr: str) -> bool:
    """A computed argument the configuration leaves unset and the plan does not know yet
    (a new role's inline_policy): the resources that set it are read instead."""
    return node.unknown(attr) and not node.configured(attr)


def role_statements(state: PlanState, role: Instance) -> list[dict[str, Any]]:
    """Every statement of the role's inline and attached policies, labelled by source as
    the live collector labels them."""
    name, node = role.get("name"), role.node
    documents: dict[str, dict[str, Any] | None] = {}
    if not _computed(node, "inline_policy"):
        for block in node.blocks("inline_policy"):
            if block.get("name"):
                documents[f"inline:{block.get('name')}"] = policy_document(block)
    for inline in state.attached("aws_iam_role_policy", "role", ROLE, "name", name):
        documents[f"inline:{inline.get('name')}"] = policy_document(inline.node)
    attached = state.attached("aws_iam_role_policy_attachment", "role", ROLE, "name", name)
    for attachment in attached:
        documents.update([_managed(state, attachment.node, name)])
    if not _computed(node, "managed_policy_arns"):
        for arn in node.get("managed_policy_arns") or []:
            if arn not in documents:
                documents.update([_managed_arn(state, arn, name)])
    return [
        {"Source": source, **statement}
        for source, document in documents.items()
        for statement in policy_statements(document or {})
    ]


def _managed(state: PlanState, attachment: Node, role: str) -> tuple[str, dict[str, Any] | None]:
    if attachment.unknown("policy_arn"):
        policy = attachment.resolve("policy_arn", to=POLICY)
        if policy is not None:
            return policy.node.optional("arn") or policy.address, policy_document(policy.node)
    return _managed_arn(state, attachment.get("policy_arn"), role)


def _managed_arn(state: PlanState, arn: str, role: str) -> tuple[str, dict[str, Any] | None]:
    missing = (
        f"policy {arn} attached to role {role} is not in the plan, so what it grants cannot be told"
    )
    return arn, policy_document(_named(state, POLICY, "arn", arn, missing).node)
