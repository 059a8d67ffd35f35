"""Reading IAM roles: every statement of a role's inline and attached policies, and its
permissions boundary. Used by the facts of other collectors (an ECS service's task role);
declares no fact itself."""

import re
from typing import Any

from policycheck.facts import UnknownAnswer
from policycheck.policydocs import statements as policy_statements

ROLE_ARN = re.compile(r"arn:[^:]+:iam::(?P<account>\d*):role/(?:.*/)?(?P<name>[^/]+)")


def role_name(role_arn: str, account_id: str) -> str:
    """The IAM RoleName of a task role ARN: its last segment (``role/path/name`` ->
    ``name``; role names cannot contain ``/``). A role of another account cannot be read
    with this account's IAM (a same-named local role would be read instead): unknown."""
    match = ROLE_ARN.fullmatch(role_arn)
    if match is None:
        if "/" in role_arn or ":" in role_arn:
            raise UnknownAnswer("UnreadableTaskRoleArn", f"cannot read the role ARN {role_arn}")
        return role_arn  # a short role name
    if account_id and match["account"] != account_id:
        raise UnknownAnswer(
            "CrossAccountTaskRole",
            f"task role {role_arn} is in account {match['account']}, not {account_id}",
        )
    return match["name"]


def role_statements(iam: Any, role_arn: str, account_id: str) -> list[dict[str, Any]]:
    """Every statement of a role's inline and attached policies, labelled by source. Any
    policy that cannot be read raises (the role's reach is then unknown)."""
    role = role_name(role_arn, account_id)
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
            add(arn, _default_version(iam, arn))
    return statements


def _default_version(iam: Any, policy_arn: str) -> dict[str, Any]:
    """A managed policy's document in its default version, the one AWS evaluates."""
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document: dict[str, Any] = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)[
        "PolicyVersion"
    ]["Document"]
    return document


def role_boundary(iam: Any, role_arn: str, account_id: str) -> dict[str, Any] | None:
    """The role's permissions boundary (the managed policy's ARN and the statements of
    its default version), or None when the role has none."""
    role = iam.get_role(RoleName=role_name(role_arn, account_id))["Role"]
    arn = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if not arn:
        return None
    return {"policy": arn, "statements": policy_statements(_default_version(iam, arn))}
