"""Who a role's trust policy lets assume it by web identity, for one question: does it
admit only one OIDC provider, for one audience and for subjects within a set?

Read as AWS evaluates a trust policy ("Policy evaluation logic", "IAM JSON policy
elements: Condition operators"):

- Every Allow statement counts. One that names any principal but the provider (another
  federated provider, an AWS account, role or user, a service, ``*``) or uses
  ``NotPrincipal`` lets someone else in: a problem. Deny statements are set aside; they
  can only take away, so leaving them out can only report more reach.
- An Allow of the provider that covers ``sts:AssumeRoleWithWebIdentity`` admits the
  tokens its conditions let through. Condition blocks are ANDed: a claim is pinned when
  one ``StringEquals``/``StringLike`` block (``ForAnyValue:`` included: the claims are
  single-valued) limits it to values whose every match lies within the allowed set
  (decided exactly over IAM wildcards, ``policycheck.iam.wildcards.some_string_matches``).
  ``StringEquals`` values are read as patterns too: ``*`` there can only fail. ``…IfExists``,
  ``IgnoreCase``, ``ForAllValues:`` and negated operators never pin (a missing claim or
  another case would pass them).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policycheck.iam.documents import as_list, covers_action, statements
from policycheck.iam.wildcards import some_string_matches

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
#: The condition operators that pin a single-valued claim to their values.
_PINNING = frozenset(
    {"stringequals", "stringlike", "foranyvalue:stringequals", "foranyvalue:stringlike"}
)


@dataclass(frozen=True)
class Claim:
    """A token claim the trust policy must pin: its condition key and the values
    (IAM wildcard patterns) it may take."""

    key: str
    allowed: tuple[str, ...]


@dataclass(frozen=True)
class TrustDecision:
    """Which statements admit the provider, and what lets anyone else in (empty: only
    the provider, with every claim pinned)."""

    admitting: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def pinned(self) -> bool:
        return bool(self.admitting) and not self.problems


def _claim_pinned(condition: Mapping[str, Any], claim: Claim) -> bool:
    """Whether one pinning block limits ``claim`` to values within its allowed set."""
    for operator, block in condition.items():
        if str(operator).lower() not in _PINNING or not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            patterns = [str(v) for v in as_list(values)]
            if (
                str(key).lower() == claim.key.lower()
                and patterns
                and not any(some_string_matches([p], claim.allowed) for p in patterns)
            ):
                return True
    return False


def _others(principal: Any, provider_arn: str) -> list[str]:
    """The principals a statement names besides ``provider_arn``."""
    if not isinstance(principal, Mapping):
        return [str(principal)]
    return [
        f"{kind} {value}"
        for kind, values in principal.items()
        for value in as_list(values)
        if not (kind == "Federated" and value == provider_arn)
    ]


def web_identity_trust(
    document: Mapping[str, Any], provider_arn: str, claims: Sequence[Claim]
) -> TrustDecision:
    """Whether the trust policy ``document`` admits only ``provider_arn``, and only
    tokens whose every claim of ``claims`` is pinned within its allowed values."""
    admitting: list[str] = []
    problems: list[str] = []
    for index, statement in enumerate(statements(dict(document))):
        if statement.get("Effect") != "Allow":
            continue
        sid = str(statement.get("Sid") or f"#{index + 1}")
        if "NotPrincipal" in statement:
            problems.append(f"statement {sid} uses NotPrincipal: it admits every other principal")
            continue
        others = _others(statement.get("Principal"), provider_arn)
        if others:
            problems.append(f"statement {sid} admits {', '.join(others)}")
            continue
        if not covers_action(statement, WEB_IDENTITY_ACTION):
            continue
        admitting.append(sid)
        condition = statement.get("Condition") or {}
        for claim in claims:
            if not _claim_pinned(condition, claim):
                problems.append(
                    f"statement {sid} does not pin {claim.key} to {' or '.join(claim.allowed)}"
                )
    if not admitting:
        problems.append(f"no statement lets {provider_arn} assume the role")
    return TrustDecision(tuple(admitting), tuple(problems))
