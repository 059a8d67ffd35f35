"""The read-only IAM policy a selection of checks needs, from the facts' declared actions."""

from collections.abc import Iterable
from typing import Any

from policycheck.plugin.registry import Registry
from policycheck.policy.load import Policy


def required_actions(check_ids: Iterable[str], registry: Registry) -> list[str]:
    """Every AWS action the checks' facts (and what those depend on) call, sorted."""
    return sorted(
        {
            action
            for check_id in check_ids
            for spec in registry.facts_of(registry.checks[check_id])
            for action in spec.actions
            if not action.startswith("local:")
        }
    )


def discovery_actions(policy: Policy) -> list[str]:
    """List calls the policy's name patterns need."""
    types = policy.registry.resource_types
    return sorted(
        {
            listing.action
            for binding in policy.bindings
            for group in binding.resource_groups
            for environment in policy.environments
            if policy.is_discovered(group, environment)
            and (listing := types[policy.document.resources[group].type].listing) is not None
        }
    )


def readonly_policy(
    check_ids: Iterable[str], registry: Registry, extra: Iterable[str] = ()
) -> dict[str, Any]:
    """An IAM policy document granting exactly those actions (and ``extra`` ones)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PolicycheckReadOnly",
                "Effect": "Allow",
                "Action": sorted({*required_actions(check_ids, registry), *extra}),
                "Resource": "*",
            }
        ],
    }


def policy_document(policy: Policy) -> dict[str, Any]:
    """The read-only IAM policy for every check the policy binds, listings included."""
    checks = [binding.check.id for binding in policy.bindings]
    return readonly_policy(checks, policy.registry, discovery_actions(policy))


#: What `run --org` calls with the run's own credentials, besides GetCallerIdentity (which
#: needs no permission).
ORG_ACTIONS = ("organizations:ListAccounts", "organizations:ListTagsForResource")


def org_policy(role_name: str) -> dict[str, Any]:
    """The policy for the credentials that run ``run --org --role-name role_name`` (in the
    management or a delegated administrator account): list the organisation, assume the
    role in each account. The role in each account needs ``readonly_policy``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PolicycheckListOrganization",
                "Effect": "Allow",
                "Action": list(ORG_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "PolicycheckAssumeAuditRole",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::*:role/{role_name}",
            },
        ],
    }


#: What `archive` calls on the bucket, and on the objects under its prefix (reading back,
#: as `history s3://…` does, included). No delete, no governance bypass: the archive adds.
ARCHIVE_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketObjectLockConfiguration")
ARCHIVE_OBJECT_ACTIONS = (
    "s3:PutObject",
    "s3:PutObjectRetention",
    "s3:AbortMultipartUpload",
    "s3:GetObject",
)


def archive_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """The policy of the role that archives report sets under s3://bucket/prefix (never
    the read-only audit role: that one writes nothing)."""
    objects = f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PolicycheckArchiveBucket",
                "Effect": "Allow",
                "Action": list(ARCHIVE_BUCKET_ACTIONS),
                "Resource": f"arn:aws:s3:::{bucket}",
            },
            {
                "Sid": "PolicycheckArchiveObjects",
                "Effect": "Allow",
                "Action": list(ARCHIVE_OBJECT_ACTIONS),
                "Resource": objects,
            },
        ],
    }


#: GitHub Actions' OIDC token issuer, as an IAM identity provider names it.
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


def github_trust_policy(
    account_id: str, repository: str, environment: str | None
) -> dict[str, Any]:
    """The trust policy of a role that GitHub Actions assumes by OIDC: audience
    ``sts.amazonaws.com``, subject restricted to the repository's jobs in one GitHub
    environment (or, without one, to its default branch ``main``)."""
    subject = (
        f"repo:{repository}:environment:{environment}"
        if environment
        else f"repo:{repository}:ref:refs/heads/main"
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {
                    "Federated": f"arn:aws:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"
                },
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                        f"{GITHUB_OIDC_HOST}:sub": subject,
                    }
                },
            }
        ],
    }
