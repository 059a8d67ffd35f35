"""The state bucket's access sentence (SC.10.02): state-writers-restricted,
lock-writers-restricted (every role and user of the account, read once with
GetAccountAuthorizationDetails) and apply-role-trust-pinned (the apply role's trust policy)."""

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from policycheck.engine.evaluation import evaluate
from policycheck.engine.fetching import fact_key, read_fact
from policycheck.engine.locations import Where
from policycheck.iam.generator import GITHUB_OIDC_HOST, github_trust_policy
from policycheck.plugin.facts import FactOutcome, FetchContext, Memo
from policycheck.plugin.registry import load_registry
from policycheck.policy.bindings import ResourceInstance
from support.checks import judge, moto_clients, target
from support.faults import Fault

ACCOUNT, REGION = "123456789012", "eu-central-1"
BUCKET, TABLE = "aiconnectors-terraform-state-dev", "aiconnectors-terraform-lock-dev"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
APPLY, PROFILE = "ai-connectors-github-apply-dev", "ai-connectors-dev"
REPO = "example-org/ai-connectors-platform"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB_OIDC_HOST}"
SUB, AUD = f"{GITHUB_OIDC_HOST}:sub", f"{GITHUB_OIDC_HOST}:aud"


def _allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _principal(name: str, *statements: dict, boundary: list[dict] | None = None) -> dict:
    return {
        "arn": name if name.startswith("arn:") else f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "policies": [{"name": "inline:p", "document": {"Statement": list(statements)}}],
        "boundary": {"name": "boundary", "document": {"Statement": boundary}} if boundary else None,
    }


WRITER = _principal(APPLY, _allow("s3:*", f"arn:aws:s3:::{BUCKET}/*"))
READER = _principal("reader", _allow("s3:GetObject", f"arn:aws:s3:::{BUCKET}/*"))
ADMIN = _principal("admin", _allow("*", "*"))


def _state(*principals: dict, policy: dict | None = None):
    facts = {"s3_bucket.policy": policy, "s3_account.iam_principals": {"principals": principals}}
    return judge("state-writers-restricted", facts, resource=BUCKET)


def _lock(*principals: dict, policy: dict | None = None):
    facts = {
        "dynamodb_table.resource_policy": policy,
        "dynamodb_account.iam_principals": {"principals": principals},
    }
    return judge("lock-writers-restricted", facts, resource=TABLE)


# --- state-writers-restricted and lock-writers-restricted: the judgement ---------------


def test_only_the_named_writers_write_the_state_passes() -> None:
    verdict = _state(WRITER, READER, _principal(PROFILE, _allow("s3:PutObject", "*")))
    assert verdict.passed, verdict.message
    assert verdict.observed == {"other_writers": []}


def test_a_writer_role_not_named_fails() -> None:
    """A CI role with s3:* on the state bucket that the policy does not name."""
    ci = _principal("ci-deployer", _allow("s3:*", f"arn:aws:s3:::{BUCKET}*"))
    verdict = _state(WRITER, ci)
    assert not verdict.passed
    assert f"arn:aws:iam::{ACCOUNT}:role/ci-deployer can s3:PutObject" in verdict.message
    assert verdict.observed["other_writers"][0]["principal"].endswith(":role/ci-deployer")


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:DeleteObjectVersion", f"arn:aws:s3:::{BUCKET}/env/terraform.tfstate"),
        ("s3:PutLifecycleConfiguration", f"arn:aws:s3:::{BUCKET}"),
        ("s3:PutBucketPolicy", "*"),
        ("s3:Replicate*", "*"),
    ],
)
def test_every_state_write_counts(action: str, resource: str) -> None:
    """Destroying a version, an expiring lifecycle, a policy that lets anyone write, a
    replication into the bucket: each changes the state."""
    assert not _state(_principal("other", _allow(action, resource))).passed


def test_reads_and_other_buckets_pass() -> None:
    """Boundary: writes to another bucket and reads of this one are not state writes."""
    other = _principal(
        "other",
        _allow("s3:*", "arn:aws:s3:::nn-aiconnectors-audit-dev/*"),
        _allow(
            ["s3:GetObject", "s3:ListBucket"],
            [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        ),
    )
    assert _state(other).passed


def test_a_permissions_boundary_without_writes_passes() -> None:
    boxed = _principal("boxed", _allow("*", "*"), boundary=[_allow("s3:GetObject", "*")])
    assert _state(WRITER, boxed).passed
    unboxed = _principal("boxed", _allow("*", "*"), boundary=[_allow("s3:*", "*")])
    assert not _state(WRITER, unboxed).passed


def test_an_explicit_deny_in_the_identity_policy_passes() -> None:
    denied = _principal(
        "admin", _allow("*", "*"), {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    )
    assert _state(denied).passed


def _deny_all_but(condition: dict[str, Any]) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheWriters",
                "Effect": "Deny",
                "Principal": "*",
                "Action": [
                    "s3:Put*",
                    "s3:Delete*",
                    "s3:Replicate*",
                    "s3:BypassGovernanceRetention",
                ],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                "Condition": condition,
            }
        ],
    }


WRITER_ARNS = [f"arn:aws:iam::{ACCOUNT}:role/{APPLY}", f"arn:aws:iam::{ACCOUNT}:role/{PROFILE}"]


@pytest.mark.parametrize(
    "condition",
    [
        {"ArnNotEquals": {"aws:PrincipalArn": WRITER_ARNS}},
        {"StringNotEquals": {"aws:PrincipalArn": WRITER_ARNS}},
        {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/ai-connectors-*"}},
    ],
)
def test_a_bucket_policy_deny_for_all_but_the_writers_passes(condition: dict) -> None:
    """The adopter's way to pass with broad roles in the account: a Deny to everyone
    whose aws:PrincipalArn is not a writer's (decided per principal)."""
    verdict = _state(WRITER, ADMIN, policy=_deny_all_but(condition))
    assert verdict.passed, verdict.message


def test_a_deny_under_another_condition_counts_as_not_denying() -> None:
    """Conservative reading: a Deny whose condition the evaluator cannot decide (the
    source IP) does not take the admin's writes away."""
    policy = _deny_all_but({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    verdict = _state(WRITER, ADMIN, policy=policy)
    assert not verdict.passed
    assert "admin" in verdict.message


def test_arn_like_matches_each_part_on_its_own() -> None:
    """ArnLike compares the six colon-delimited parts one by one: `arn:aws:iam::*` has
    five, so it matches no role, and the Deny below spares admin (whole-string matching
    would read it as denying everyone: a false pass)."""
    five_parts = _deny_all_but({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}})
    assert not _state(ADMIN, policy=five_parts).passed
    six_parts = _deny_all_but({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/adm?n"}})
    assert _state(ADMIN, policy=six_parts).passed


@pytest.mark.parametrize(
    "principal",
    ["*", {"AWS": "arn:aws:iam::210987654321:role/elsewhere"}, {"AWS": "210987654321"}],
)
def test_a_bucket_policy_letting_others_write_fails(principal: Any) -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ]
    }
    verdict = _state(WRITER, policy=policy)
    assert not verdict.passed
    assert "can s3:PutObject" in verdict.message


def test_a_bucket_policy_letting_a_service_write_fails() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ]
    }
    verdict = _state(READER, policy=policy)
    assert not verdict.passed
    assert "logging.s3.amazonaws.com can s3:PutObject" in verdict.message


def test_writers_are_named_by_role_name_or_arn() -> None:
    pathed = _principal(f"arn:aws:iam::{ACCOUNT}:role/ci/{APPLY}", _allow("s3:*", "*"))
    assert _state(pathed).passed
    user = _principal(f"arn:aws:iam::{ACCOUNT}:user/operator", _allow("s3:*", "*"))
    assert not _state(user).passed
    facts = {"s3_bucket.policy": None, "s3_account.iam_principals": {"principals": [user]}}
    named = judge(
        "state-writers-restricted",
        facts,
        resource=BUCKET,
        writers=[f"arn:aws:iam::{ACCOUNT}:user/operator"],
    )
    assert named.passed


def test_lock_table_writers() -> None:
    lock_writer = _principal(APPLY, _allow("dynamodb:PutItem", TABLE_ARN))
    assert _lock(lock_writer).passed
    other = _principal(
        "ci", _allow("dynamodb:DeleteItem", "arn:aws:dynamodb:*:*:table/aiconnectors-*")
    )
    verdict = _lock(lock_writer, other)
    assert not verdict.passed
    assert "ci can dynamodb:DeleteItem" in verdict.message
    reader = _principal("ci", _allow(["dynamodb:GetItem", "dynamodb:Query"], TABLE_ARN))
    assert _lock(reader).passed


def test_the_lock_tables_resource_policy_counts() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                "Action": "dynamodb:PutItem",
                "Resource": TABLE_ARN,
            }
        ]
    }
    verdict = _lock(READER, policy=policy)
    assert not verdict.passed
    assert "arn:aws:iam::210987654321:root can dynamodb:PutItem" in verdict.message


def test_an_account_without_roles_or_users_is_not_a_pass() -> None:
    """Boundary: the auditor's own principal is always listed; an empty answer fails."""
    assert not _state().passed
    assert "lists no role or user" in _lock().message


# --- apply-role-trust-pinned: the judgement ---------------------------------------------


def _trust(document: dict, **params: Any):
    return judge(
        "apply-role-trust-pinned",
        {"iam_role.trust_policy": document},
        resource=APPLY,
        repository=REPO,
        **params,
    )


PINNED = github_trust_policy(ACCOUNT, REPO, None)


def _with_condition(condition: dict, document: dict = PINNED) -> dict:
    changed = copy.deepcopy(document)
    changed["Statement"][0]["Condition"] = condition
    return changed


@pytest.mark.parametrize(
    ("document", "params"),
    [
        (PINNED, {}),
        (PINNED, {"branch": "main"}),
        (github_trust_policy(ACCOUNT, REPO, "prod"), {"environment": "prod"}),
        (github_trust_policy(ACCOUNT, REPO, "dev"), {"environment": "{env}"}),
        (
            _with_condition(
                {"StringEquals": {AUD: "sts.amazonaws.com"}, "StringLike": {SUB: f"repo:{REPO}:*"}}
            ),
            {},
        ),
    ],
)
def test_pinned_trust_passes(document: dict, params: dict) -> None:
    verdict = _trust(document, **params)
    assert verdict.passed, verdict.message


_AUD_ONLY = {"StringEquals": {AUD: "sts.amazonaws.com"}}


@pytest.mark.parametrize(
    ("document", "params", "said"),
    [
        (_with_condition(_AUD_ONLY), {}, "does not pin " + SUB),
        (_with_condition({**_AUD_ONLY, "StringLike": {SUB: "repo:example-org/*"}}), {}, SUB),
        (_with_condition({**_AUD_ONLY, "StringLike": {SUB: "*"}}), {}, SUB),
        (
            _with_condition({**_AUD_ONLY, "StringLike": {SUB: "repo:example-org/ai-connectors-*"}}),
            {},
            SUB,
        ),
        (
            _with_condition({**_AUD_ONLY, "StringLike": {SUB: "repo:*/ai-connectors-platform:*"}}),
            {},
            SUB,
        ),
        (_with_condition({"StringEquals": {SUB: f"repo:{REPO}:ref:refs/heads/main"}}), {}, AUD),
        (
            _with_condition({**_AUD_ONLY, "StringLikeIfExists": {SUB: f"repo:{REPO}:*"}}),
            {},
            SUB,
        ),
        (
            _with_condition({**_AUD_ONLY, "ForAllValues:StringLike": {SUB: f"repo:{REPO}:*"}}),
            {},
            SUB,
        ),
        # Boundary: the repository is pinned but not the environment the policy asks for.
        (PINNED, {"environment": "prod"}, SUB),
        (
            _with_condition({**_AUD_ONLY, "StringLike": {SUB: f"repo:{REPO}:*"}}),
            {"branch": "main"},
            SUB,
        ),
    ],
)
def test_wildcard_or_missing_claims_fail(document: dict, params: dict, said: str) -> None:
    verdict = _trust(document, **params)
    assert not verdict.passed
    assert said in verdict.message


@pytest.mark.parametrize(
    "principal",
    [
        {"Federated": [PROVIDER, f"arn:aws:iam::{ACCOUNT}:oidc-provider/gitlab.com"]},
        {"Federated": PROVIDER, "AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "*",
    ],
)
def test_a_second_principal_fails(principal: Any) -> None:
    document = copy.deepcopy(PINNED)
    document["Statement"][0]["Principal"] = principal
    verdict = _trust(document)
    assert not verdict.passed
    assert "admits" in verdict.message


def test_a_second_statement_for_another_principal_fails() -> None:
    document = copy.deepcopy(PINNED)
    document["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    verdict = _trust(document)
    assert not verdict.passed
    assert "statement #2 admits Service ec2.amazonaws.com" in verdict.message


def test_no_github_statement_fails_and_remediation_names_the_fix() -> None:
    verdict = _trust({"Version": "2012-10-17", "Statement": []})
    assert not verdict.passed
    assert f"no statement lets {PROVIDER} assume the role" in verdict.message
    remediation = load_registry().checks["apply-role-trust-pinned"].remediation
    assert "policycheck iam-policy --trust github" in remediation


# --- live: the facts read from moto, and what is unknown is an error ---------------------


TRUST_ACCOUNT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _clients(url: str) -> Any:
    return moto_clients(url, REGION)


def _role(iam: Any, name: str, *statements: dict, trust: dict = TRUST_ACCOUNT) -> None:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    if statements:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="p",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        )


def _result(check_id: str, name: str, outcomes: dict[str, FactOutcome], catalog: Any) -> Any:
    resource = ResourceInstance(name, "", {"env": "dev", "region": REGION}, REGION)
    bound = target(check_id, resource, Where("dev", ACCOUNT, REGION))
    keyed = {
        fact_key(ACCOUNT, REGION, outcome.spec, name): outcome for outcome in outcomes.values()
    }
    return evaluate(bound, keyed, catalog, datetime(2026, 11, 24, tzinfo=UTC), load_registry())


def _read(client: Any, fact: str, name: str, memo: Memo | None = None) -> FactOutcome:
    context = FetchContext(name, ACCOUNT, REGION, "", client, memo=(memo or Memo()).get)
    return read_fact(load_registry().facts[fact], context)


def _state_live(client: Any, catalog: Any, memo: Memo | None = None) -> Any:
    facts = ("s3_bucket.policy", "s3_account.iam_principals")
    outcomes = {f: _read(client, f, BUCKET, memo) for f in facts}
    return _result("state-writers-restricted", BUCKET, outcomes, catalog)


def _bucket(client: Any) -> None:
    client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )


def test_live_state_writers(moto, catalog) -> None:
    client = _clients(moto.url)
    _bucket(client)
    iam = client("iam")
    _role(iam, APPLY, _allow("s3:*", f"arn:aws:s3:::{BUCKET}/*"))
    assert _state_live(client, catalog).status == "pass"
    _role(iam, "ci-deployer", _allow("s3:*", "*"))
    result = _state_live(client, catalog)
    assert result.status == "fail"
    assert "role/ci-deployer can s3:PutObject" in result.message


def test_live_users_group_policies_and_managed_default_versions_count(moto, catalog) -> None:
    """A user writes through its group's attached policy, in the default version only."""
    client = _clients(moto.url)
    _bucket(client)
    iam = client("iam")
    reads = {"Version": "2012-10-17", "Statement": [_allow("s3:GetObject", "*")]}
    writes = {"Version": "2012-10-17", "Statement": [_allow("s3:PutObject", "*")]}
    arn = iam.create_policy(PolicyName="ops", PolicyDocument=json.dumps(reads))["Policy"]["Arn"]
    iam.create_group(GroupName="operators")
    iam.attach_group_policy(GroupName="operators", PolicyArn=arn)
    iam.create_user(UserName="operator")
    iam.add_user_to_group(GroupName="operators", UserName="operator")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(writes))  # not default
    assert _state_live(client, catalog).status == "pass"
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(writes), SetAsDefault=True)
    result = _state_live(client, catalog)
    assert result.status == "fail"
    assert f"arn:aws:iam::{ACCOUNT}:user/operator can s3:PutObject" in result.message


def test_live_permissions_boundary_counts(moto, catalog) -> None:
    client = _clients(moto.url)
    _bucket(client)
    iam = client("iam")
    reads = {"Version": "2012-10-17", "Statement": [_allow("s3:GetObject", "*")]}
    boundary = iam.create_policy(PolicyName="b", PolicyDocument=json.dumps(reads))["Policy"]["Arn"]
    _role(iam, "boxed", _allow("*", "*"))
    iam.put_role_permissions_boundary(RoleName="boxed", PermissionsBoundary=boundary)
    assert _state_live(client, catalog).status == "pass"


def test_the_accounts_iam_is_read_once_for_both_checks(moto) -> None:
    client = _clients(moto.url)
    _role(client("iam"), APPLY)
    memo = Memo()
    first = _read(client, "s3_account.iam_principals", BUCKET, memo)
    second = _read(client, "dynamodb_account.iam_principals", TABLE, memo)
    assert first.value == second.value
    assert [p["arn"] for p in first.value["principals"]] == [f"arn:aws:iam::{ACCOUNT}:role/{APPLY}"]
    assert moto.faults.requests["GetAccountAuthorizationDetails"] == 1


def test_live_an_unreadable_account_iam_is_an_error(moto, catalog) -> None:
    client = _clients(moto.url)
    _bucket(client)
    moto.faults.add(Fault("GetAccountAuthorizationDetails", "AccessDenied", 403))
    result = _state_live(client, catalog)
    assert result.status == "error"
    assert "AccessDenied" in result.message


def test_live_a_missing_state_bucket_fails(moto, catalog) -> None:
    result = _state_live(_clients(moto.url), catalog)
    assert result.status == "fail"


def test_live_lock_table(moto, catalog) -> None:
    client = _clients(moto.url)
    client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    facts = ("dynamodb_table.resource_policy", "dynamodb_account.iam_principals")

    def lock_result() -> Any:
        outcomes = {f: _read(client, f, TABLE) for f in facts}
        return _result("lock-writers-restricted", TABLE, outcomes, catalog)

    _role(client("iam"), APPLY, _allow("dynamodb:*", TABLE_ARN))
    assert lock_result().status == "pass"
    _role(client("iam"), "ci", _allow("dynamodb:PutItem", "*"))
    assert lock_result().status == "fail"
    moto.faults.add(Fault("GetResourcePolicy", "AccessDenied", 400))
    assert lock_result().status == "error"


def _trust_live(client: Any, catalog: Any) -> Any:
    outcome = _read(client, "iam_role.trust_policy", APPLY)
    return _result(
        "apply-role-trust-pinned",
        APPLY,
        {"iam_role.trust_policy": outcome},
        catalog,
    )


def test_live_apply_role_trust(moto, catalog) -> None:
    client = _clients(moto.url)
    iam = client("iam")
    iam.create_role(
        RoleName=APPLY,
        AssumeRolePolicyDocument=json.dumps(github_trust_policy(ACCOUNT, REPO, None)),
    )
    assert _trust_live(client, catalog).status == "pass"
    loose = _with_condition({**_AUD_ONLY, "StringLike": {SUB: "repo:example-org/*"}})
    iam.update_assume_role_policy(RoleName=APPLY, PolicyDocument=json.dumps(loose))
    assert _trust_live(client, catalog).status == "fail"


def test_live_a_missing_apply_role_fails_and_a_denied_get_role_is_an_error(moto, catalog) -> None:
    client = _clients(moto.url)
    missing = _trust_live(client, catalog)
    assert missing.status == "fail"
    client("iam").create_role(RoleName=APPLY, AssumeRolePolicyDocument=json.dumps(PINNED))
    moto.faults.add(Fault("GetRole", "AccessDenied", 403))
    denied = _trust_live(client, catalog)
    assert denied.status == "error"
    assert "AccessDenied" in denied.message
