"""Who can change the Terraform state: only the principals the policy names write the
state bucket and the lock table, and GitHub Actions assumes the apply role only from the
platform repository."""

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from policycheck.iam.evaluator import (
    Policy,
    Principal,
    Target,
    evaluate,
    foreign_principals,
    outside,
)
from policycheck.iam.generator import GITHUB_OIDC_HOST, github_trust_policy
from policycheck.iam.trust import Claim, web_identity_trust
from policycheck.plugin.check import RESOURCE, CheckParams, Facts, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples, Json
from policycheck.policy.templates import expand, name_template
from policycheck.sources.aws.iam import create_role

from .iam import ITEM_WRITES

#: The S3 actions that write, overwrite or destroy a state object (Service Authorization
#: Reference for Amazon S3, "Actions defined by Amazon S3"), by the resource they are
#: authorised on: on ``object``, PutObject (also CopyObject and multipart uploads),
#: DeleteObject (a delete marker), DeleteObjectVersion (the data), ReplicateObject and
#: ReplicateDelete (a replication role writing into the bucket), and
#: BypassGovernanceRetention (deletes what Object Lock retains); on ``bucket``,
#: PutLifecycleConfiguration (an expiration rule deletes state) and PutBucketPolicy
#: (which lets anyone write).
STATE_WRITES = {
    "object": (
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ReplicateObject",
        "s3:ReplicateDelete",
        "s3:BypassGovernanceRetention",
    ),
    "bucket": ("s3:PutLifecycleConfiguration", "s3:PutBucketPolicy"),
}
#: The DynamoDB actions that write or delete a lock item or the lock table (Service
#: Authorization Reference for DynamoDB): item writes and their PartiQL forms,
#: DeleteTable, and PutResourcePolicy (which lets anyone write).
LOCK_WRITES = (
    *ITEM_WRITES,
    "dynamodb:DeleteTable",
    "dynamodb:PutResourcePolicy",
)


def _writer_role(name: str, statement: dict[str, Any]) -> tuple[Call, ...]:
    """An IAM role ``name`` of the demo account with one inline policy ``statement``."""
    return (
        create_role(name),
        Call(
            "iam",
            "put_role_policy",
            {
                "RoleName": name,
                "PolicyName": "terraform-state",
                "PolicyDocument": Json({"Version": "2012-10-17", "Statement": [statement]}),
            },
        ),
    )


def _writes(actions: tuple[str, ...], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resource}


class WritersParams(CheckParams):
    writers: list[Annotated[str, AfterValidator(name_template)]] = Field(
        default=["ai-connectors-{env}", "ai-connectors-github-apply-{env}"],
        min_length=1,
        description="The principals that may write: IAM role names of the account or "
        "role/user ARNs; {env} {region} as in names. The defaults are illustrative: set the "
        "role behind the AWS profile and the role GitHub Actions applies Terraform with.",
    )


def _named(principal_arn: str, writers: set[str]) -> bool:
    """Whether a principal is one of the writers (by ARN, or a role by its name)."""
    return principal_arn in writers or (
        ":role/" in principal_arn and principal_arn.rsplit("/", 1)[-1] in writers
    )


def _account_principals(details: dict[str, Any]) -> list[Principal]:
    def policy(found: dict[str, Any]) -> Policy:
        return Policy(found["name"], found["document"])

    return [
        Principal(
            p["arn"],
            tuple(policy(found) for found in p["policies"]),
            policy(p["boundary"]) if p["boundary"] else None,
        )
        for p in details["principals"]
    ]


def _other_writers(
    facts: Facts,
    principals_fact: str,
    questions: list[tuple[tuple[str, ...], Target]],
    resource_policy: Policy | None,
    params: WritersParams,
) -> Verdict:
    """Which principals not among ``params.writers`` can perform one of the actions on
    its target (``questions``): every role and user of the account, and (when the
    resource has a policy) the principals outside the account it names and anyone."""
    resource = facts[RESOURCE]
    writers = {expand(w, resource["variables"]) for w in params.writers}
    details = facts[principals_fact]
    if not details or not details.get("principals"):
        # The auditor's own role or user is one: an empty answer is not an account's.
        return judge(
            False,
            "the account lists no role or user",
            "the account's roles and users",
            expected={"writers": params.writers},
            observed=details,
        )
    candidates = _account_principals(details)
    resource_policies = (resource_policy,) if resource_policy else ()
    if resource_policy is not None:
        foreign = foreign_principals(resource_policy, resource["account_id"])
        candidates += [outside(arn) for arn in ("*", *foreign)]
    reaching: list[dict[str, Any]] = []
    for principal in candidates:
        if principal.exact and _named(principal.arn, writers):
            continue
        for actions, target in questions:
            decision = evaluate(principal, actions, [target], resource_policies)
            if decision.allowed:
                reaching.append(
                    {
                        "principal": "any principal" if principal.arn == "*" else principal.arn,
                        "actions": list(decision.actions),
                        "statements": [str(ref) for ref in decision.deciding],
                        "conditional": [str(ref) for ref in decision.conditional],
                    }
                )
                break
    expected_text = f"writes by {', '.join(sorted(writers))} only"
    text = (
        "; ".join(
            f"{r['principal']} can {', '.join(r['actions'])} ({', '.join(r['statements'])})"
            for r in reaching
        )
        or f"only {', '.join(sorted(writers))} can write"
    )
    return judge(
        not reaching,
        text,
        expected_text,
        expected={"writers": sorted(writers)},
        observed={"other_writers": reaching},
    )


_JUDGED = (
    "every role and user of the account (inline, attached managed policies in their default "
    "version, their groups' policies, permissions boundaries), service-linked roles "
    "included, and the resource policy's principals outside the account, decided by the IAM "
    "evaluator (explicit Deny wins; a Condition on aws:PrincipalArn alone is decided for "
    "each principal, any other conditional Allow counts as granting and conditional Deny as "
    "not denying)"
)


@check(
    id="state-writers-restricted",
    passes="no principal but `writers` can write or delete the bucket's objects or change "
    "its lifecycle or policy (the Service Authorization Reference's list): " + _JUDGED,
    examples=Examples(
        compliant=_writer_role(
            "ai-connectors-github-apply-{env}",
            _writes(STATE_WRITES["object"], "arn:aws:s3:::{name}/*"),
        ),
        deviation=Deviation(
            "a CI role the policy does not name can delete state versions",
            _writer_role("ci-state-writer-{env}", _writes(("s3:*",), "arn:aws:s3:::{name}*")),
        ),
    ),
    title="Only the named principals can write the Terraform state",
    resource_type="s3_bucket",
    severity="critical",
    facts=("s3_bucket.policy", "s3_account.iam_principals"),
    remediation=(
        "Remove the state writes from the other principals' policies, or add to the policy "
        'of {name} a statement {{"Effect": "Deny", "Principal": "*", "Action": '
        '["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": '
        '"arn:aws:s3:::{name}/*", "Condition": {{"ArnNotEquals": {{"aws:PrincipalArn": '
        "[the writers' role ARNs]}}}}}}"
    ),
    params=WritersParams,
)
def state_writers_restricted(facts: Facts, params: WritersParams) -> Verdict:
    """No principal but ``writers`` can write, overwrite or delete the bucket's objects or
    change its lifecycle or policy (``STATE_WRITES``), as ``policycheck.iam.evaluator`` decides
    for every role and user of the account (read once per run with
    GetAccountAuthorizationDetails) with the bucket policy, and for the principals outside
    the account the bucket policy names (their own policies taken to allow everything).

    Service-linked roles count like any role (name one in ``writers`` if it must write).
    A bucket policy Deny that spares the writers by ``aws:PrincipalArn`` (ArnNotEquals,
    StringNotEquals, their Like forms) is decided for each principal, so it passes for
    the others; a Deny under any other Condition counts as not denying."""
    bucket = facts[RESOURCE]["name"]
    policy = facts["s3_bucket.policy"]
    questions = [
        (STATE_WRITES["object"], Target(f"arn:aws:s3:::{bucket}/?*")),
        (STATE_WRITES["bucket"], Target(f"arn:aws:s3:::{bucket}")),
    ]
    resource_policy = Policy("the bucket policy", policy) if policy else None
    return _other_writers(facts, "s3_account.iam_principals", questions, resource_policy, params)


@check(
    id="lock-writers-restricted",
    passes="no principal but `writers` can write or delete lock items or the table (the "
    "Service Authorization Reference's list): " + _JUDGED.replace("resource", "table's"),
    examples=Examples(
        compliant=_writer_role(
            "ai-connectors-github-apply-{env}",
            _writes(LOCK_WRITES[:3], "arn:aws:dynamodb:{region}:{account_id}:table/{name}"),
        ),
        deviation=Deviation(
            "a CI role the policy does not name can delete lock items",
            _writer_role(
                "ci-lock-writer-{env}",
                _writes(("dynamodb:*",), "arn:aws:dynamodb:{region}:{account_id}:table/{name}"),
            ),
        ),
    ),
    title="Only the named principals can write the Terraform lock table",
    resource_type="dynamodb_table",
    severity="high",
    facts=("dynamodb_table.resource_policy", "dynamodb_account.iam_principals"),
    remediation=(
        "Remove the writes to {name} from the other principals' policies and from the "
        "table's resource policy, or deny them there by aws:PrincipalArn"
    ),
    params=WritersParams,
)
def lock_writers_restricted(facts: Facts, params: WritersParams) -> Verdict:
    """No principal but ``writers`` can write or delete the table's items or the table
    (``LOCK_WRITES``), as ``policycheck.iam.evaluator`` decides for every role and user of the
    account with the table's resource-based policy, and for the principals outside the
    account that policy names; read as ``state-writers-restricted`` reads the bucket."""
    resource = facts[RESOURCE]
    arn = f"arn:aws:dynamodb:{resource['region']}:{resource['account_id']}:table/{resource['name']}"
    policy = facts["dynamodb_table.resource_policy"]
    resource_policy = Policy(f"resource policy of {arn}", policy) if policy else None
    return _other_writers(
        facts,
        "dynamodb_account.iam_principals",
        [(LOCK_WRITES, Target(arn))],
        resource_policy,
        params,
    )


class TrustParams(CheckParams):
    repository: str = Field(
        "example-org/ai-connectors-platform",
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="OWNER/REPO of the platform repository whose workflows apply "
        "Terraform (illustrative default: set yours).",
    )
    environment: Annotated[str, AfterValidator(name_template)] | None = Field(
        None,
        description="Pin the sub to this GitHub environment (repo:OWNER/REPO:environment:"
        "NAME); {env} as in names.",
    )
    branch: Annotated[str, AfterValidator(name_template)] | None = Field(
        None,
        description="Pin the sub to this branch (repo:OWNER/REPO:ref:refs/heads/NAME).",
    )


def _subjects(params: TrustParams, variables: dict[str, str]) -> tuple[str, ...]:
    """The sub claims the role may admit: the environment's and the branch's jobs when
    the parameters pin them, else any job of the repository."""
    prefix = f"repo:{params.repository}"
    pinned = (
        *(
            (f"{prefix}:environment:{expand(params.environment, variables)}",)
            if params.environment
            else ()
        ),
        *(
            (f"{prefix}:ref:refs/heads/{expand(params.branch, variables)}",)
            if params.branch
            else ()
        ),
    )
    return pinned or (f"{prefix}:*",)


def _update_trust(document: dict[str, Any]) -> Call:
    return Call(
        "iam", "update_assume_role_policy", {"RoleName": "{name}", "PolicyDocument": Json(document)}
    )


_GITHUB_TRUST = github_trust_policy("{account_id}", "{params.repository}", None)


@check(
    id="apply-role-trust-pinned",
    passes="every Allow of the trust policy names only GitHub's OIDC provider "
    "(sts:AssumeRoleWithWebIdentity) with `aud` = sts.amazonaws.com and `sub` within "
    "`repo:REPOSITORY:…` (the `environment` or `branch` when set), decided over IAM "
    "wildcards; StringEquals/StringLike pin, IfExists/IgnoreCase/ForAllValues/negated "
    "operators do not; Deny statements are set aside",
    examples=Examples(
        compliant=(_update_trust(_GITHUB_TRUST),),
        deviation=Deviation(
            "any repository of the owner can assume the role",
            (
                _update_trust(
                    {
                        **_GITHUB_TRUST,
                        "Statement": [
                            {
                                **_GITHUB_TRUST["Statement"][0],
                                "Condition": {
                                    "StringEquals": {
                                        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"
                                    },
                                    "StringLike": {f"{GITHUB_OIDC_HOST}:sub": "repo:example-org/*"},
                                },
                            }
                        ],
                    }
                ),
            ),
        ),
    ),
    title="GitHub Actions assumes the apply role only from the platform repository",
    resource_type="iam_role",
    severity="critical",
    facts=("iam_role.trust_policy",),
    remediation=(
        "Replace the trust policy of {name} with the one `policycheck iam-policy --trust "
        "github --repo OWNER/REPO [--environment NAME] --account-id ACCOUNT` prints: "
        "aws iam update-assume-role-policy --role-name {name} --policy-document file://trust.json"
    ),
    params=TrustParams,
)
def apply_role_trust_pinned(facts: Facts, params: TrustParams) -> Verdict:
    """The role's trust policy admits only GitHub's OIDC provider
    (``arn:aws:iam::ACCOUNT:oidc-provider/token.actions.githubusercontent.com``), for
    ``sts:AssumeRoleWithWebIdentity``, with ``aud`` pinned to ``sts.amazonaws.com`` and
    ``sub`` to the platform repository (and to its environment or branch when the
    parameters say so), as ``policycheck.iam.trust`` decides: a missing ``sub``, a wildcard
    owner or repository, another federated, AWS or service principal, ``NotPrincipal``
    fail. A missing role fails; GetRole denied is an error."""
    resource = facts[RESOURCE]
    provider = f"arn:aws:iam::{resource['account_id']}:oidc-provider/{GITHUB_OIDC_HOST}"
    subjects = _subjects(params, resource["variables"])
    decision = web_identity_trust(
        facts["iam_role.trust_policy"] or {},
        provider,
        (
            Claim(f"{GITHUB_OIDC_HOST}:aud", ("sts.amazonaws.com",)),
            Claim(f"{GITHUB_OIDC_HOST}:sub", subjects),
        ),
    )
    return judge(
        decision.pinned,
        "; ".join(decision.problems)
        or f"only {provider} for {' or '.join(subjects)} ({', '.join(decision.admitting)})",
        f"only GitHub's OIDC provider, aud sts.amazonaws.com, sub {' or '.join(subjects)}",
        expected={"principal": provider, "aud": "sts.amazonaws.com", "sub": list(subjects)},
        observed=facts["iam_role.trust_policy"],
    )
