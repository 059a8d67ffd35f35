"""IAM policy evaluation within one account, as AWS documents it ("Policy evaluation
logic", "Policy evaluation for requests within a single account", "Permissions boundaries
for IAM entities"), for one question: can a principal perform any of some actions on any
resource of a set?

- An explicit Deny in any policy (identity-based, the permissions boundary, a
  resource-based policy naming the principal) wins.
- Identity-based Allows count only where the permissions boundary, when one is set, also
  allows. A resource-based policy's Allow adds to them (same account: the union); it is
  limited by the boundary only where it names the role's ARN itself (AWS: a grant to the
  role ARN is limited by the boundary, one to a session or to a user is not).
- ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource``
  case-sensitively, both with ``*`` and ``?``; the resource set asked about is itself
  given as wildcard patterns (``table/T/index/?*``: every index of T) and the answer is
  exact over every ARN of the set (``policycheck.iam.wildcards.some_string_matches``).
- Conditions are never guessed: an Allow under a condition counts as allowing and a Deny
  under a condition as not denying, so an unknown condition cannot turn a reach into
  isolation. The answer names the conditional statements that played a part. One
  condition is known, not guessed: ``aws:PrincipalArn`` (String/Arn Equals/Like and their
  Not and IfExists forms, alone in the Condition) is decided for a role or user whose ARN
  is the principal's own, never for a stand-in (``Principal.exact``).
- A managed policy counts in its default version: callers pass the documents of the
  default versions (the collectors read ``DefaultVersionId``).

Not modelled, each on the side of reach (see the README): service control policies,
resource control policies and session policies (they can only take permissions away, so
leaving them out can only report more reach), the values of conditions other than
``aws:PrincipalArn``, ``NotPrincipal`` in a Deny (read as not denying), and the policies
of principals of other accounts (``outside``: taken to allow everything).
"""

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any

from policycheck.iam.documents import as_list, covers_action, statements
from policycheck.iam.wildcards import some_string_matches, wildcard_match

_ACCOUNT_PRINCIPAL = re.compile(r"(?:\d{12}|arn:[^:]+:iam::\d{12}:root)")
_ROLE_OR_SESSION = re.compile(
    r"arn:[^:]+:(?:iam::(?P<account>\d*):role/(?:.*/)?(?P<role>[^/]+)"
    r"|sts::(?P<session_account>\d*):assumed-role/(?P<session_role>[^/]+)/.*)"
)


@dataclass(frozen=True)
class Policy:
    """A policy document with the name it is reported under (``inline:NAME``, a managed
    policy's ARN, ``resource policy of ARN``)."""

    name: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Principal:
    """An IAM role or user: the ARN, its identity-based policies (inline, attached in
    their default versions, its groups') and its permissions boundary if one is set."""

    arn: str
    policies: tuple[Policy, ...]
    boundary: Policy | None = None
    #: Whether ``arn`` is the principal's own (its ``aws:PrincipalArn``); False for a
    #: stand-in for principals a policy cannot name (``ANYONE``, another account).
    exact: bool = True


@dataclass(frozen=True)
class StatementRef:
    """Which statement: the policy's name, the statement's Sid (or its position)."""

    policy: str
    sid: str
    effect: str
    conditional: bool
    #: Its Resource entries, or ``not X`` for each NotResource entry.
    resources: tuple[str, ...] = ()

    def __str__(self) -> str:
        suffix = " (conditional)" if self.conditional else ""
        on = f" on {' '.join(self.resources)}" if self.resources else ""
        return f"{self.effect} {self.sid} of {self.policy}{on}{suffix}"


@dataclass(frozen=True)
class Decision:
    """The answer: whether some action of the set is allowed on some resource of the set;
    the statements that allow it (or, when denied, the explicit Denies that took away an
    Allow); and the conditional statements that played a part (counted as allowing, or
    as not denying)."""

    allowed: bool
    actions: tuple[str, ...] = ()
    deciding: tuple[StatementRef, ...] = ()
    conditional: tuple[StatementRef, ...] = ()


@dataclass(frozen=True)
class _Statement:
    ref: StatementRef
    body: Mapping[str, Any]
    #: Whether the boundary limits this Allow (identity-based, or resource-based naming
    #: the role's ARN).
    bounded: bool = True


def _refs(policy: Policy) -> Iterator[tuple[StatementRef, dict[str, Any]]]:
    for index, statement in enumerate(statements(dict(policy.document))):
        effect = "Deny" if statement.get("Effect") == "Deny" else "Allow"
        sid = str(statement.get("Sid") or f"#{index + 1}")
        resources = tuple(str(r) for r in as_list(statement.get("Resource"))) + tuple(
            f"not {r}" for r in as_list(statement.get("NotResource"))
        )
        conditional = bool(statement.get("Condition"))
        yield StatementRef(policy.name, sid, effect, conditional, resources), statement


def _principal_values(statement: Mapping[str, Any], key: str) -> list[str] | None:
    """The AWS principals a statement names under ``key`` (Principal or NotPrincipal);
    ``["*"]`` for everyone; None when the key is absent."""
    if key not in statement:
        return None
    value = statement[key]
    if value == "*":
        return ["*"]
    if isinstance(value, Mapping):
        return [str(v) for kind in ("AWS", "Service") for v in as_list(value.get(kind))]
    return []


def foreign_principals(policy: Policy, account_id: str) -> list[str]:
    """The principals a resource-based policy's Allow statements name that are not of
    ``account_id``: other accounts' ARNs and accounts, and AWS services. Each can act
    with its own identity policies, which this account cannot read."""
    named = [
        value
        for ref, body in _refs(policy)
        if ref.effect == "Allow"
        for value in _principal_values(body, "Principal") or []
    ]
    return [
        value
        for value in dict.fromkeys(named)
        if value != "*" and account_id not in [*value.split(":")[4:5], value]
    ]


#: A principal a resource-based policy cannot name: of no account it trusts, allowed
#: everything by its own policies. What is denied to it is denied to every principal.
ANYONE = Principal(
    "arn:aws:iam::000000000000:role/any-principal",
    (
        Policy(
            "any identity policy",
            {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}},
        ),
    ),
    exact=False,
)


def outside(arn: str) -> Principal:
    """The principals ``arn`` names outside the account (another account's role, that
    account, an AWS service, ``*``: anyone): their own policies cannot be read here and
    are taken to allow everything, so what they can do is what the resource-based
    policy grants them (across accounts both sides must allow) less its Denies."""
    return Principal(arn, (), exact=False)


def _same_role(named: str, principal_arn: str) -> bool:
    """Whether ``named`` is ``principal_arn``'s role or one of its sessions (the path
    ignored: a role name is unique in its account)."""
    theirs, ours = _ROLE_OR_SESSION.fullmatch(named), _ROLE_OR_SESSION.fullmatch(principal_arn)
    if theirs is None or ours is None or ours["role"] is None:
        return False
    account = theirs["account"] if theirs["role"] else theirs["session_account"]
    return account == ours["account"] and (theirs["role"] or theirs["session_role"]) == ours["role"]


def _resource_statements(principal: Principal, policy: Policy) -> Iterator[_Statement]:
    """The statements of a resource-based policy that apply to ``principal``. An Allow
    applies when it names everyone or the principal (its role, a session of it), and
    always with ``NotPrincipal`` (the sessions of a role are principals of their own:
    unless every one is listed, which no policy can do ahead, some are not excluded); an
    account principal grants nothing by itself (the identity policy must allow). A Deny
    applies when it names everyone, the account or exactly the principal; a Deny with
    ``NotPrincipal`` is read as not denying."""
    account = principal.arn.split(":")[4] if principal.arn.count(":") >= 5 else ""
    for ref, body in _refs(policy):
        named = _principal_values(body, "Principal")
        if ref.effect == "Allow":
            if named is not None:
                if "*" in named:
                    yield _Statement(ref, body, bounded=False)
                elif principal.arn in named:
                    yield _Statement(ref, body, bounded=":role/" in principal.arn)
                elif any(_same_role(n, principal.arn) for n in named):
                    yield _Statement(ref, body, bounded=False)
            elif "NotPrincipal" in body:
                yield _Statement(ref, body, bounded=False)
        elif named is not None and (
            "*" in named
            or principal.arn in named
            or any(_ACCOUNT_PRINCIPAL.fullmatch(n) and account and account in n for n in named)
        ):
            yield _Statement(ref, body)


#: The operators a condition on ``aws:PrincipalArn`` is decided with (``IfExists``
#: changes nothing: an IAM role's or user's request always carries the key).
_PRINCIPAL_ARN_OPERATORS = {
    f"{kind}{negated}{test}": (kind, bool(negated), test == "Like")
    for kind in ("String", "Arn")
    for negated in ("", "Not")
    for test in ("Equals", "Like")
}


def _arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-delimited parts matched on its own."""
    parts, theirs = pattern.split(":", 5), arn.split(":", 5)
    return len(parts) == len(theirs) and all(map(wildcard_match, parts, theirs))


def _principal_arn_condition(condition: Mapping[str, Any], arn: str) -> bool | None:
    """Whether a Condition that tests only ``aws:PrincipalArn`` holds for ``arn``;
    None when it tests anything else (it is then not decided here)."""
    results = []
    for operator, block in condition.items():
        known = _PRINCIPAL_ARN_OPERATORS.get(str(operator).removesuffix("IfExists"))
        if known is None or not isinstance(block, Mapping) or not block:
            return None
        kind, negated, like = known
        for key, values in block.items():
            if str(key).lower() != "aws:principalarn":
                return None
            if kind == "Arn":
                matched = any(_arn_like(str(v), arn) for v in as_list(values))
            elif like:
                matched = any(wildcard_match(str(v), arn) for v in as_list(values))
            else:
                matched = arn in [str(v) for v in as_list(values)]
            results.append(matched != negated)
    return all(results)


def _applies(principal: Principal, ref: StatementRef, body: Mapping[str, Any]) -> _Statement | None:
    """The statement as it applies to ``principal``: a Condition on ``aws:PrincipalArn``
    alone is decided for a principal whose ARN is known (the statement then applies
    unconditionally, or not at all); any other stays conditional."""
    if not ref.conditional or not principal.exact:
        return _Statement(ref, body)
    holds = _principal_arn_condition(body["Condition"], principal.arn)
    if holds is None:
        return _Statement(ref, body)
    if not holds:
        return None
    decided = replace(ref, sid=f"{ref.sid} (aws:PrincipalArn matches)", conditional=False)
    return _Statement(decided, {k: v for k, v in body.items() if k != "Condition"})


@dataclass(frozen=True)
class _Resources:
    """Which ARNs a statement applies to: one of ``any_of`` (none: every ARN) and none of
    ``none_of``."""

    any_of: tuple[str, ...] | None
    none_of: tuple[str, ...]


def _resources(body: Mapping[str, Any], effect: str) -> _Resources:
    if "NotResource" in body:
        return _Resources(None, tuple(str(p) for p in as_list(body["NotResource"])))
    if "Resource" in body:
        return _Resources(tuple(str(p) for p in as_list(body["Resource"])), ())
    # No Resource at all: an Allow is read as every ARN, a Deny as none.
    return _Resources(None, ()) if effect == "Allow" else _Resources((), ())


def _reachable(target: str, excluded: Sequence[str], parts: Sequence[_Resources]) -> bool:
    """Whether an ARN matching ``target`` and none of ``excluded`` is in every part."""
    choices = [p.any_of if p.any_of is not None else (None,) for p in parts]
    none_of = [*excluded, *(pattern for p in parts for pattern in p.none_of)]
    return any(
        some_string_matches([target, *(c for c in chosen if c is not None)], none_of)
        for chosen in product(*choices)
    )


@dataclass(frozen=True)
class Target:
    """The resources asked about: the ARNs matching ``pattern`` (``*``/``?`` wildcards)
    and none of ``excluding``."""

    pattern: str
    excluding: tuple[str, ...] = ()


@dataclass
class _Tally:
    """The statements an evaluation found deciding, allowing or denying, and conditional."""

    allowing: dict[StatementRef, None] = field(default_factory=dict)
    denying: dict[StatementRef, None] = field(default_factory=dict)
    conditional: dict[StatementRef, None] = field(default_factory=dict)

    def allowed_by(self, *refs: StatementRef) -> None:
        for ref in refs:
            self.allowing[ref] = None
            if ref.conditional:
                self.conditional[ref] = None


@dataclass(frozen=True)
class _Applicable:
    """The statements that apply to a principal, by kind."""

    identity: list[_Statement]
    boundary: list[_Statement] | None
    on_resource: list[_Statement]


def _action_allowed(
    applicable: _Applicable, action: str, targets: Sequence[Target], tally: _Tally
) -> bool:
    """Whether ``action`` is allowed on some resource of ``targets``; records in
    ``tally`` the statements that allow it or the explicit Denies that take it away."""

    def covering(found: Iterable[_Statement], effect: str) -> list[_Statement]:
        return [s for s in found if s.ref.effect == effect and covers_action(dict(s.body), action)]

    everything = [*applicable.identity, *(applicable.boundary or []), *applicable.on_resource]
    denies = covering(everything, "Deny")
    for deny in denies:
        if deny.ref.conditional:
            tally.conditional[deny.ref] = None
    firm = [(d.ref, _resources(d.body, "Deny")) for d in denies if not d.ref.conditional]
    # A Deny with NotResource spares only the ARNs it names: a part of every reach.
    spared = [_Resources(r.none_of, ()) for _, r in firm if r.any_of is None and r.none_of]
    denied = tuple(p for _, r in firm if r.any_of for p in r.any_of)
    limits: list[_Statement | None] = (
        [None] if applicable.boundary is None else list(covering(applicable.boundary, "Allow"))
    )
    allowed = False
    for grant in covering([*applicable.identity, *applicable.on_resource], "Allow"):
        for limit in limits if grant.bounded else [None]:
            parts = [_resources(grant.body, "Allow"), *spared]
            parts += [_resources(limit.body, "Allow")] if limit is not None else []
            for target in targets:
                if not _reachable(target.pattern, target.excluding, parts):
                    continue
                if _reachable(target.pattern, (*target.excluding, *denied), parts):
                    allowed = True
                    tally.allowed_by(grant.ref, *([limit.ref] if limit else []))
                    continue
                for ref, reach in firm:
                    if reach.any_of is None or _reachable(
                        target.pattern, target.excluding, [*parts, reach]
                    ):
                        tally.denying[ref] = None
    return allowed


def _decided(principal: Principal, found: list[_Statement]) -> list[_Statement]:
    """The statements with their ``aws:PrincipalArn`` conditions decided (``_applies``)."""
    decided = []
    for statement in found:
        applied = _applies(principal, statement.ref, statement.body)
        if applied is not None:
            decided.append(replace(applied, bounded=statement.bounded))
    return decided


def evaluate(
    principal: Principal,
    actions: Iterable[str],
    targets: Iterable[Target],
    resource_policies: Iterable[Policy] = (),
) -> Decision:
    """Can ``principal`` perform any of ``actions`` on any resource of ``targets``?
    ``resource_policies``: the resource-based policies of the resources asked about."""
    applicable = _Applicable(
        identity=_decided(
            principal, [_Statement(r, b) for p in principal.policies for r, b in _refs(p)]
        ),
        boundary=(
            _decided(principal, [_Statement(r, b) for r, b in _refs(principal.boundary)])
            if principal.boundary is not None
            else None
        ),
        on_resource=_decided(
            principal, [s for p in resource_policies for s in _resource_statements(principal, p)]
        ),
    )
    tally, asked = _Tally(), tuple(targets)
    allowed = [a for a in dict.fromkeys(actions) if _action_allowed(applicable, a, asked, tally)]
    if allowed:
        return Decision(True, tuple(allowed), tuple(tally.allowing), tuple(tally.conditional))
    ignored = tuple(ref for ref in tally.conditional if ref.effect == "Deny")
    return Decision(False, (), tuple(tally.denying), ignored)
