"""The IAM evaluator (policycheck.iam.evaluator) against a plain reference (iam_reference.py)
on generated policies, boundaries and resource policies over DynamoDB tables and their
indexes, streams, backups and exports; and against AWS's documented examples."""

from hypothesis import given, settings
from hypothesis import strategies as st

from policycheck.iam.evaluator import Policy, Principal, Target, evaluate
from policycheck.iam.wildcards import some_string_matches
from support.iam_reference import Requester, allowed

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/teams-task"
TABLES = f"arn:aws:dynamodb:eu-central-1:{ACCOUNT}:table/"
ARNS = [
    TABLES + table + sub
    for table in ("tok-a", "tok-b", "Tok-a")
    for sub in (
        "",
        "/index/gsi1",
        "/stream/2026-12-07T00:00:00.000",
        "/backup/0123-x",
        "/export/e1",
    )
]
ACTIONS = [
    "dynamodb:Query",
    "dynamodb:GetItem",
    "dynamodb:GetRecords",
    "dynamodb:RestoreTableFromBackup",
]
ACTION_PATTERNS = [
    *ACTIONS,
    "dynamodb:*",
    "DynamoDB:query",
    "dynamodb:Get*",
    "dynamodb:?etItem",
    "*",
    "s3:*",
]
RESOURCE_PATTERNS = [
    *ARNS[:6],
    "*",
    TABLES + "*",
    TABLES + "tok-a",
    TABLES + "tok-a/*",
    TABLES + "tok-a*",
    TABLES + "tok-?",
    TABLES + "tok-a/index/*",
    TABLES + "tok-a/stream/*",
    TABLES + "*/backup/*",
    TABLES + "tok-a/export/*",
    "arn:aws:dynamodb:*:*:table/tok-*",
    "arn:aws:dynamodb:eu-central-1:" + ACCOUNT + ":table/?ok-a",
]


def _element(values: list[str]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from(values), st.lists(st.sampled_from(values), min_size=1, max_size=3)
    )


@st.composite
def _statement(draw: st.DrawFn, principals: bool = False) -> dict:
    statement: dict = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    statement["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = draw(
        _element(ACTION_PATTERNS)
    )
    statement["NotResource" if draw(st.integers(0, 3)) == 0 else "Resource"] = draw(
        _element(RESOURCE_PATTERNS)
    )
    if draw(st.integers(0, 3)) == 0:
        statement["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    if principals:
        named = draw(
            st.sampled_from(
                [
                    "*",
                    {"AWS": "*"},
                    {"AWS": ROLE},
                    {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ecs/teams-task"},
                    {"AWS": f"arn:aws:iam::{ACCOUNT}:role/sharepoint-task"},
                    {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/teams-task/s1"},
                    {"AWS": ACCOUNT},
                    {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    {"Service": "dynamodb.amazonaws.com"},
                ]
            )
        )
        statement["NotPrincipal" if draw(st.integers(0, 5)) == 0 else "Principal"] = named
    return statement


def _document(statements: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    return st.builds(
        lambda s: {"Version": "2012-10-17", "Statement": s}, st.lists(statements, max_size=3)
    )


CASES = st.tuples(
    st.lists(_document(_statement()), max_size=2),
    st.one_of(st.none(), _document(_statement())),
    st.lists(_document(_statement(principals=True)), max_size=1),
)


def _engine(identity: list, boundary: dict | None) -> Principal:
    policies = tuple(Policy(f"inline:p{i}", d) for i, d in enumerate(identity))
    return Principal(ROLE, policies, Policy("boundary", boundary) if boundary is not None else None)


@settings(max_examples=400, deadline=None)
@given(CASES, st.sampled_from(ARNS), st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2))
def test_evaluator_agrees_with_the_reference_on_one_arn(case, arn, actions) -> None:
    identity, boundary, resource_policies = case
    expected = any(
        allowed(Requester(ROLE, tuple(identity), boundary), action, arn, resource_policies)
        for action in actions
    )
    decision = evaluate(
        _engine(identity, boundary),
        actions,
        [Target(arn)],
        [Policy("resource policy", d) for d in resource_policies],
    )
    assert decision.allowed == expected
    assert bool(decision.actions) == expected


SETS = [
    TABLES + "tok-a/index/?*",
    TABLES + "tok-a/stream/?*",
    TABLES + "tok-a/backup/?*",
    TABLES + "*",
]


@settings(max_examples=300, deadline=None)
@given(CASES, st.sampled_from(SETS), st.sampled_from(ACTIONS))
def test_a_set_is_reached_when_a_member_is(case, pattern, action) -> None:
    """Over a set of ARNs the reference sees only samples: a sample it allows must make
    the evaluator say the set is reached (never a false isolation)."""
    identity, boundary, resource_policies = case
    requester = Requester(ROLE, tuple(identity), boundary)
    members = [arn for arn in ARNS if some_string_matches([pattern, arn])]
    decision = evaluate(
        _engine(identity, boundary),
        [action],
        [Target(pattern)],
        [Policy("resource policy", d) for d in resource_policies],
    )
    if any(allowed(requester, action, arn, resource_policies) for arn in members):
        assert decision.allowed


def _named(refs) -> list[str]:
    return [
        f"{r.effect} {r.sid} of {r.policy}" + (" (conditional)" if r.conditional else "")
        for r in refs
    ]


# --- AWS documentation's examples --------------------------------------------------

CARLOS = f"arn:aws:iam::{ACCOUNT}:user/carlossalazar"
CARLOS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowS3ListRead",
            "Effect": "Allow",
            "Action": [
                "s3:GetBucketLocation",
                "s3:GetAccountPublicAccessBlock",
                "s3:ListAccessPoints",
                "s3:ListAllMyBuckets",
            ],
            "Resource": "arn:aws:s3:::*",
        },
        {
            "Sid": "AllowS3Self",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/*",
                "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar",
            ],
        },
        {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
    ],
}
#: A bucket policy granting Carlos the logs bucket from the resource's side.
LOGS_BUCKET_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowCarlosLogs",
            "Effect": "Allow",
            "Principal": {"AWS": CARLOS},
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/*",
        }
    ],
}


def test_documentation_carlos_own_bucket_is_allowed() -> None:
    carlos = Principal(CARLOS, (Policy("carlos", CARLOS_POLICY),))
    decision = evaluate(
        carlos, ["s3:PutObject"], [Target("arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar/file")]
    )
    assert decision.allowed and _named(decision.deciding) == ["Allow AllowS3Self of carlos"]


def test_documentation_carlos_logs_bucket_denied_despite_the_bucket_policy() -> None:
    """ "An explicit deny in any of the policies overrides the allow": DenyS3Logs."""
    carlos = Principal(CARLOS, (Policy("carlos", CARLOS_POLICY),))
    logs = Target("arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/file")
    decision = evaluate(
        carlos, ["s3:PutObject"], [logs], [Policy("bucket policy", LOGS_BUCKET_POLICY)]
    )
    assert not decision.allowed
    assert _named(decision.deciding) == ["Deny DenyS3Logs of carlos"]
    assert (
        allowed(
            Requester(CARLOS, (CARLOS_POLICY,)), "s3:PutObject", logs.pattern, [LOGS_BUCKET_POLICY]
        )
        is False
    )


def test_documentation_either_identity_or_resource_policy_allows() -> None:
    """ "If either the identity-based policy or the resource-based policy within the same
    account allows the request and the other doesn't, the request is still allowed.\""""
    nobody = Principal(CARLOS, ())
    policy = {**LOGS_BUCKET_POLICY}
    decision = evaluate(
        nobody,
        ["s3:GetObject"],
        [Target("arn:aws:s3:::amzn-s3-demo-bucket-carlossalazar-logs/f")],
        [Policy("bp", policy)],
    )
    assert decision.allowed and _named(decision.deciding) == ["Allow AllowCarlosLogs of bp"]


def test_documentation_boundary_limits_the_identity_policy() -> None:
    """Permissions boundaries page: a boundary allowing only S3, CloudWatch and EC2 means
    a user whose identity policy allows iam:CreateUser cannot create users."""
    shirley = Principal(
        f"arn:aws:iam::{ACCOUNT}:user/ShirleyRodriguez",
        (
            Policy(
                "CreateUser",
                {"Statement": {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}},
            ),
        ),
        Policy(
            "boundary",
            {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:*", "cloudwatch:*", "ec2:*"],
                        "Resource": "*",
                    }
                ]
            },
        ),
    )
    assert not evaluate(
        shirley, ["iam:CreateUser"], [Target(f"arn:aws:iam::{ACCOUNT}:user/x")]
    ).allowed


def test_conditions_are_read_conservatively_and_reported() -> None:
    table = TABLES + "tok-a"
    policy = {
        "Statement": [
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Action": "dynamodb:Query",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": "a"}},
            },
            {
                "Sid": "NotFromHere",
                "Effect": "Deny",
                "Action": "dynamodb:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:ViaAWSService": "false"}},
            },
        ]
    }
    decision = evaluate(
        Principal(ROLE, (Policy("p", policy),)), ["dynamodb:Query"], [Target(table)]
    )
    assert decision.allowed
    assert _named(decision.conditional) == [
        "Deny NotFromHere of p (conditional)",
        "Allow Read of p (conditional)",
    ]


def test_wildcard_sets_are_decided_exactly() -> None:
    assert some_string_matches([TABLES + "t/index/?*", TABLES + "*"])
    assert not some_string_matches([TABLES + "t/index/?*"], [TABLES + "t/*"])
    assert some_string_matches([TABLES + "t/index/?*"], [TABLES + "t/index/a*"])
    assert not some_string_matches([TABLES + "t/index/?*", TABLES + "t"])
    assert some_string_matches(["A*"], ["a*"])  # case-sensitive: "A..." is not "a*"


def _deny_unless(operator: str, values: object) -> Policy:
    """A table policy: everyone allowed, Deny to whoever the condition on
    aws:PrincipalArn selects."""
    return Policy(
        "table policy",
        {
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:*", "Resource": "*"},
                {
                    "Sid": "OnlyWriters",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "dynamodb:PutItem",
                    "Resource": "*",
                    "Condition": {operator: {"aws:PrincipalArn": values}},
                },
            ]
        },
    )


WRITER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/writer"


def _put(principal: Principal, policy: Policy) -> bool:
    return evaluate(principal, ["dynamodb:PutItem"], [Target(TABLES + "lock")], [policy]).allowed


def test_a_condition_on_the_principal_arn_is_decided_for_a_known_principal() -> None:
    """aws:PrincipalArn is the role's ARN: the Deny applies to others, not to the writer
    (the negated operators, their Like and IfExists forms, ArnNotLike part by part)."""
    other, writer = Principal(ROLE, ()), Principal(WRITER_ROLE, ())
    for operator, values in [
        ("ArnNotEquals", [WRITER_ROLE]),
        ("StringNotEquals", WRITER_ROLE),
        ("StringNotLike", f"arn:aws:iam::{ACCOUNT}:role/wr*"),
        ("ArnNotLikeIfExists", "arn:aws:iam::*:role/writer"),
    ]:
        policy = _deny_unless(operator, values)
        assert not _put(other, policy), operator
        assert _put(writer, policy), operator
    decision = evaluate(other, ["dynamodb:PutItem"], [Target(TABLES + "lock")], [policy])
    assert _named(decision.deciding) == [
        "Deny OnlyWriters (aws:PrincipalArn matches) of table policy"
    ]


def test_other_conditions_and_unknown_principals_stay_conservative() -> None:
    """A condition with another key, an operator not decided here, or a stand-in for
    principals the policy cannot name: the Deny counts as not denying."""
    other = Principal(ROLE, ())
    assert _put(other, _deny_unless("StringNotEqualsIgnoreCase", WRITER_ROLE))
    assert _put(other, _deny_unless("ForAnyValue:StringNotEquals", WRITER_ROLE))
    mixed = _deny_unless("ArnNotEquals", WRITER_ROLE)
    mixed.document["Statement"][1]["Condition"]["Bool"] = {"aws:SecureTransport": "false"}
    assert _put(other, mixed)
    stand_in = Principal(ROLE, (), exact=False)
    assert _put(stand_in, _deny_unless("ArnNotEquals", WRITER_ROLE))
