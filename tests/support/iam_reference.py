"""A plain IAM policy evaluator: the reference ``policycheck.iam.evaluator`` is tested against.
Written from AWS's "Policy evaluation logic" pages independently of the engine (no code
shared): it decides one request, one action on one concrete ARN, by the documented flow.

1. Gather the statements that apply: every statement of the identity-based policies and
   of the permissions boundary; of each resource-based policy, the statements whose
   Principal names the requester.
2. A statement matches the request when its Action (or, for NotAction, none of it)
   matches the action ignoring case, and its Resource (or, for NotResource, none of it)
   matches the ARN respecting case. ``*`` is any run of characters, ``?`` one.
3. Conditions cannot be evaluated here: a conditional Allow is taken as matching, a
   conditional Deny as not matching (the conservative reading the engine promises).
4. A matching Deny anywhere: denied.
5. Allowed when an identity-based Allow matches and (no boundary, or a boundary Allow
   matches); or a resource-based Allow matches and either it is not limited by the
   boundary (it names everyone, a user, a role session) or the boundary allows.
"""

import re
from dataclasses import dataclass


def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, value, flags) is not None


def _listed(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(statement: dict, action: str, arn: str) -> bool:
    if "NotAction" in statement:
        action_ok = not any(_glob(p, action, True) for p in _listed(statement["NotAction"]))
    else:
        action_ok = any(_glob(p, action, True) for p in _listed(statement.get("Action")))
    if "NotResource" in statement:
        resource_ok = not any(_glob(p, arn, False) for p in _listed(statement["NotResource"]))
    elif "Resource" in statement:
        resource_ok = any(_glob(p, arn, False) for p in _listed(statement["Resource"]))
    else:
        resource_ok = statement.get("Effect") == "Allow"
    return action_ok and resource_ok


def _statements(document: dict) -> list[dict]:
    return _listed(document.get("Statement"))


@dataclass(frozen=True)
class Requester:
    arn: str
    identity: tuple[dict, ...]
    boundary: dict | None = None

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def role_name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


def _allow_names(requester: Requester, names: list[str]) -> str | None:
    """How an Allow's principals name the requester: 'role' (its role ARN, limited by
    the boundary), 'other' (everyone, a session of it, its role under another path), or
    None (an account principal grants nothing by itself)."""
    if requester.arn in names:
        return "role"
    session = f"arn:aws:sts::{requester.account}:assumed-role/{requester.role_name}/"
    for name in names:
        role = re.fullmatch(rf"arn:aws:iam::{requester.account}:role/(.*/)?([^/]+)", name)
        if name == "*" or name.startswith(session) or (role and role[2] == requester.role_name):
            return "other"
    return None


def _deny_names(requester: Requester, names: list[str]) -> bool:
    """Whether a Deny's principals surely include the requester: everyone, its ARN, its
    account."""
    account = (requester.account, f"arn:aws:iam::{requester.account}:root")
    return any(name in ("*", requester.arn, *account) for name in names)


def _principals(statement: dict, key: str) -> list[str] | None:
    if key not in statement:
        return None
    value = statement[key]
    return ["*"] if value == "*" else [str(v) for v in _listed(value.get("AWS"))]


def allowed(requester: Requester, action: str, arn: str, resource_policies=()) -> bool:
    def firm_deny(statement: dict) -> bool:
        return (
            statement.get("Effect") == "Deny"
            and not statement.get("Condition")
            and _matches(statement, action, arn)
        )

    def allow(statement: dict) -> bool:
        return statement.get("Effect") == "Allow" and _matches(statement, action, arn)

    identity = [s for d in requester.identity for s in _statements(d)]
    boundary = _statements(requester.boundary) if requester.boundary is not None else None
    resource_allows: list[tuple[dict, bool]] = []  # (statement, limited by the boundary)
    resource_denies: list[dict] = []
    for document in resource_policies:
        for statement in _statements(document):
            named, excluded = (
                _principals(statement, "Principal"),
                _principals(statement, "NotPrincipal"),
            )
            if statement.get("Effect") == "Deny":
                if named is not None and _deny_names(requester, named):
                    resource_denies.append(statement)
            elif named is not None:
                how = _allow_names(requester, named)
                if how is not None:
                    resource_allows.append((statement, how == "role"))
            elif excluded is not None:  # a session of the role is never all excluded
                resource_allows.append((statement, False))
    if any(firm_deny(s) for s in identity + (boundary or []) + resource_denies):
        return False
    within_boundary = boundary is None or any(allow(s) for s in boundary)
    if within_boundary and any(allow(s) for s in identity):
        return True
    return any(allow(s) and (within_boundary or not limited) for s, limited in resource_allows)
