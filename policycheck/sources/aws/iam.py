"""IAM: reading a role's statements and permissions boundary (for the facts of other
collectors: an ECS service's task role); the ``iam_role`` resource type and its trust
policy; and every role and user of the account with its policies, read once
(``account_principals_fact``)."""

import re
from typing import Any

from policycheck.iam.documents import statements as policy_statements
from policycheck.plugin.examples import Call, Json
from policycheck.plugin.facts import FactSpec, FetchContext, UnknownAnswer
from policycheck.plugin.resources import ResourceType

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


def create_role(name: str) -> Call:
    """The demo's call creating role ``name``, assumable from its own account (a check's
    example then sets what it judges)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::{account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return Call(
        "iam",
        "create_role",
        {"RoleName": name, "AssumeRolePolicyDocument": Json(trust)},
        ignore=("EntityAlreadyExists",),
    )


IAM_ROLE = ResourceType(
    name="iam_role",
    label="IAM role",
    missing_codes=frozenset({"NoSuchEntity"}),
    arn_template="arn:aws:iam::{account_id}:role/{name}",
    example=(create_role("{name}"),),
)


def _trust_policy(ctx: FetchContext) -> Any:
    """The role's trust policy (who may assume it)."""
    return ctx.client("iam").get_role(RoleName=ctx.name)["Role"]["AssumeRolePolicyDocument"]


TRUST_POLICY = FactSpec("iam_role.trust_policy", IAM_ROLE, ("iam:GetRole",), _trust_policy)


def _named_documents(entity: dict[str, Any], inline_key: str) -> list[dict[str, Any]]:
    return [
        {"name": f"inline:{p['PolicyName']}", "document": p["PolicyDocument"]}
        for p in entity.get(inline_key) or []
    ]


def _authorization_details(iam: Any) -> dict[str, Any]:
    """Every role and user of the account with its identity-based policies: inline,
    attached managed policies in their default version, and (users) their groups';
    and its permissions boundary. GetAccountAuthorizationDetails, every page."""
    pages = list(iam.get_paginator("get_account_authorization_details").paginate())
    managed = {
        policy["Arn"]: next(
            version["Document"]
            for version in policy["PolicyVersionList"]
            if version["IsDefaultVersion"]
        )
        for page in pages
        for policy in page.get("Policies", [])
    }

    def attached(entity: dict[str, Any]) -> list[dict[str, Any]]:
        arns = [a["PolicyArn"] for a in entity.get("AttachedManagedPolicies") or []]
        unknown = [arn for arn in arns if arn not in managed]
        if unknown:  # only local policies in use and AWS managed ones are listed
            raise UnknownAnswer("PolicyNotListed", f"no document for managed policy {unknown[0]}")
        return [{"name": arn, "document": managed[arn]} for arn in arns]

    def boundary(entity: dict[str, Any]) -> dict[str, Any] | None:
        arn = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        if not arn:
            return None
        if arn not in managed:
            raise UnknownAnswer("PolicyNotListed", f"no document for boundary {arn}")
        return {"name": arn, "document": managed[arn]}

    groups = {
        group["GroupName"]: _named_documents(group, "GroupPolicyList") + attached(group)
        for page in pages
        for group in page.get("GroupDetailList", [])
    }
    principals = [
        {
            "arn": role["Arn"],
            "policies": _named_documents(role, "RolePolicyList") + attached(role),
            "boundary": boundary(role),
        }
        for page in pages
        for role in page.get("RoleDetailList", [])
    ]
    for page in pages:
        for user in page.get("UserDetailList", []):
            member_of = user.get("GroupList") or []
            missing = [g for g in member_of if g not in groups]
            if missing:
                raise UnknownAnswer("GroupNotListed", f"no details for group {missing[0]}")
            principals.append(
                {
                    "arn": user["Arn"],
                    "policies": _named_documents(user, "UserPolicyList")
                    + attached(user)
                    + [policy for group in member_of for policy in groups[group]],
                    "boundary": boundary(user),
                }
            )
    return {"principals": principals}


def account_principals_fact(name: str, resource_type: ResourceType) -> FactSpec:
    """The account's roles and users with their policies (``_authorization_details``) as
    a fact of ``resource_type``'s checks: read once per account and run, whichever
    resource type asks (IAM is global: the memo is keyed by the account only)."""
    return FactSpec(
        name,
        resource_type,
        ("iam:GetAccountAuthorizationDetails",),
        lambda ctx: ctx.memo(
            ("iam-authorization-details", ctx.account_id),
            lambda: _authorization_details(ctx.client("iam")),
        ),
        scope="account",
        uses_memo=True,
    )
