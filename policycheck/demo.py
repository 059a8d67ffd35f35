"""The embedded demo: a simulated AWS account (moto on loopback) seeded from the policy,
mostly compliant with a few deliberate violations, then audited like a real one.

The seeding is also what the tests use: :func:`seed` makes every bound check pass, and
:data:`VIOLATIONS` holds, per check, the deviation that makes exactly that check fail.
"""

import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

import boto3

from policycheck.aws import client_config, make_client
from policycheck.collect import ProgressCallback
from policycheck.controls import Catalog
from policycheck.errors import InputError
from policycheck.mockaws import MotoNotInstalled, moto_server
from policycheck.policy import Policy
from policycheck.registry import CheckParams
from policycheck.report import Report
from policycheck.runner import RunOptions, run_audit, select

DEMO_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ECR_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "0" * 64, "size": 0},
        "layers": [],
    }
)
#: Table hash keys by resource group (Terraform's lock table needs LockID).
TABLE_HASH_KEYS = {"lock_table": "LockID"}


def demo_session(region: str) -> boto3.Session:
    """A session with dummy credentials: it can only ever talk to the local endpoint."""
    return boto3.Session(region_name=region, **DEMO_CREDENTIALS)


@dataclass
class Account:
    """Writers for one simulated account and region; one session, one client per service."""

    endpoint_url: str
    region: str
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(
                demo_session(self.region),
                service,
                self.region,
                self.endpoint_url,
                client_config(4),
            )
        return self._clients[service]


Seeder = Callable[[Account, str, Any], None]


def create_resource(account: Account, resource_type: str, group: str, name: str) -> None:
    """Create an empty resource of the given type (idempotent)."""
    if resource_type == "s3_bucket":
        s3 = account.client("s3")
        options = {}
        if account.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": account.region}
        s3.create_bucket(Bucket=name, **options)
    elif resource_type == "dynamodb_table":
        key = TABLE_HASH_KEYS.get(group, "pk")
        ddb = account.client("dynamodb")
        if name not in ddb.list_tables()["TableNames"]:
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
    elif resource_type == "ecr_repository":
        ecr = account.client("ecr")
        with suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=name)
    else:
        raise ValueError(f"cannot create {resource_type}")


# --- compliant settings, per check ------------------------------------------------------


def _versioning(status: str) -> Seeder:
    def apply(account: Account, name: str, _params: Any) -> None:
        account.client("s3").put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": status}
        )

    return apply


def _encrypt(account: Account, name: str, params: Any) -> None:
    algorithm = params.allowed_algorithms[0]
    account.client("s3").put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]
        },
    )


def _encrypt_wrongly(account: Account, name: str, params: Any) -> None:
    s3 = account.client("s3")
    if "aws:kms" in params.allowed_algorithms:
        s3.delete_bucket_encryption(Bucket=name)
        return
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )


def _block_public_access(*off: str) -> Seeder:
    def apply(account: Account, name: str, _params: Any) -> None:
        flags = (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
        account.client("s3").put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={flag: flag not in off for flag in flags},
        )

    return apply


def _lifecycle(*rules: Callable[[Any], dict[str, Any]]) -> Seeder:
    def apply(account: Account, name: str, params: Any) -> None:
        account.client("s3").put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": [rule(params) for rule in rules]}
        )

    return apply


def _archive_rule(expire_after: Callable[[Any], int]) -> Callable[[Any], dict[str, Any]]:
    return lambda params: {
        "ID": "archive-and-expire",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Transitions": [{"Days": params.transition_days, "StorageClass": params.storage_class}],
        "Expiration": {"Days": expire_after(params)},
    }


def _housekeeping_rule(_params: Any) -> dict[str, Any]:
    """Deletes no data: aborts stale uploads and removes expired delete markers."""
    return {
        "ID": "housekeeping",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
    }


def _noncurrent_expiry_rule(_params: Any) -> dict[str, Any]:
    return {
        "ID": "drop-old-versions",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
    }


def _deny_delete(*actions: str) -> Seeder:
    def apply(account: Account, name: str, _params: Any) -> None:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyDelete",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": list(actions),
                    "Resource": f"arn:aws:s3:::{name}/*",
                }
            ],
        }
        account.client("s3").put_bucket_policy(Bucket=name, Policy=json.dumps(policy))

    return apply


def _pitr(days: Callable[[Any], int]) -> Seeder:
    def apply(account: Account, name: str, params: Any) -> None:
        account.client("dynamodb").update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": days(params),
            },
        )

    return apply


def _ttl(enabled: bool) -> Seeder:
    def apply(account: Account, name: str, params: Any) -> None:
        account.client("dynamodb").update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "Enabled": enabled,
                "AttributeName": params.attribute_name or "expires_at",
            },
        )

    return apply


def _ecr_lifecycle(keep: Callable[[Any], int]) -> Seeder:
    def apply(account: Account, name: str, params: Any) -> None:
        policy = {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "expire untagged images after 7 days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": 7,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": "keep the most recent tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": keep(params),
                    },
                    "action": {"type": "expire"},
                },
            ]
        }
        account.client("ecr").put_lifecycle_policy(
            repositoryName=name, lifecyclePolicyText=json.dumps(policy)
        )

    return apply


def _push_image(account: Account, name: str, _params: Any) -> None:
    ecr = account.client("ecr")
    if not ecr.list_images(repositoryName=name, filter={"tagStatus": "TAGGED"})["imageIds"]:
        ecr.put_image(repositoryName=name, imageManifest=ECR_MANIFEST, imageTag="v1.0.0")


def _remove_images(account: Account, name: str, _params: Any) -> None:
    ecr = account.client("ecr")
    image_ids = ecr.list_images(repositoryName=name)["imageIds"]
    if image_ids:
        ecr.batch_delete_image(repositoryName=name, imageIds=image_ids)


#: Per check: the setting that makes it pass.
COMPLIANT: dict[str, Seeder] = {
    "s3-versioning-enabled": _versioning("Enabled"),
    "s3-encryption-at-rest": _encrypt,
    "s3-public-access-blocked": _block_public_access(),
    "s3-lifecycle-archive-and-expire": _lifecycle(
        _archive_rule(lambda p: p.expiration_days), _housekeeping_rule
    ),
    "s3-retains-all-versions": _lifecycle(_housekeeping_rule),
    "s3-policy-denies-delete": _deny_delete("s3:DeleteObject", "s3:DeleteObjectVersion"),
    "dynamodb-pitr-enabled": _pitr(lambda p: 35),
    "dynamodb-ttl-enabled": _ttl(True),
    "ecr-lifecycle-retains-tagged": _ecr_lifecycle(lambda p: p.min_tagged_images),
    "ecr-image-available": _push_image,
}

#: Per check: the deviation the check exists to catch (applied over the compliant state).
VIOLATIONS: dict[str, Seeder] = {
    "s3-versioning-enabled": _versioning("Suspended"),
    "s3-encryption-at-rest": _encrypt_wrongly,
    # Prowler passes this: only IgnorePublicAcls and BlockPublicAcls are set.
    "s3-public-access-blocked": _block_public_access("BlockPublicPolicy", "RestrictPublicBuckets"),
    "s3-lifecycle-archive-and-expire": _lifecycle(_archive_rule(lambda p: p.expiration_days // 2)),
    "s3-retains-all-versions": _lifecycle(_housekeeping_rule, _noncurrent_expiry_rule),
    "s3-policy-denies-delete": _deny_delete("s3:DeleteObject"),
    "dynamodb-pitr-enabled": _pitr(lambda p: max(1, p.min_recovery_days - 28)),
    "dynamodb-ttl-enabled": _ttl(False),
    "ecr-lifecycle-retains-tagged": _ecr_lifecycle(lambda p: max(1, p.min_tagged_images // 2)),
    "ecr-image-available": _remove_images,
}


@dataclass(frozen=True)
class Deviation:
    """A deliberate violation: this check fails on this resource in this environment."""

    environment: str
    check_id: str
    resource_name: str


#: What the demo breaks on purpose, so that its report shows failures worth reading.
DEMO_DEVIATIONS = (
    Deviation("dev", "s3-versioning-enabled", "aiconnectors-terraform-state-dev"),
    Deviation("prod", "s3-public-access-blocked", "nn-aiconnectors-audit-prod"),
    Deviation("prod", "s3-lifecycle-archive-and-expire", "nn-aiconnectors-audit-prod"),
    Deviation("dev", "dynamodb-pitr-enabled", "mcp-oauth-storage-databricks-dev"),
    Deviation("prod", "ecr-lifecycle-retains-tagged", "mcp-teams"),
)


def seed(
    policy: Policy,
    endpoint_url: str,
    environments: list[str] | None = None,
    deviations: tuple[Deviation, ...] = (),
) -> None:
    """Create every resource the policy names and make every bound check pass, then apply
    the deviations."""
    accounts: dict[str, Account] = {}

    def account_in(environment: str) -> Account:
        region = policy.environments[environment].region
        return accounts.setdefault(region, Account(endpoint_url, region))

    for environment in environments or list(policy.environments):
        account = account_in(environment)
        for group, resource in policy.document.resources.items():
            for name in policy.resource_names(group, environment):
                create_resource(account, resource.type, group, name)
        for binding in policy.bindings:
            for name in _bound_names(policy, binding.resource_groups, environment):
                COMPLIANT[binding.check.id](account, name, binding.params)
    for deviation in deviations:
        VIOLATIONS[deviation.check_id](
            account_in(deviation.environment),
            deviation.resource_name,
            _params_for(policy, deviation),
        )


def _bound_names(policy: Policy, groups: tuple[str, ...], environment: str) -> list[str]:
    return [name for group in groups for name in policy.resource_names(group, environment)]


def _params_for(policy: Policy, deviation: Deviation) -> CheckParams:
    for binding in policy.bindings:
        if binding.check.id == deviation.check_id and deviation.resource_name in _bound_names(
            policy, binding.resource_groups, deviation.environment
        ):
            return binding.params
    raise ValueError(f"{deviation.check_id} is not bound to {deviation.resource_name}")


def single_account(policy: Policy) -> Policy:
    """The policy with account ids and roles dropped: the demo's environments all live in
    one simulated account."""
    environments = {
        name: env.model_copy(update={"account_id": None, "role_arn": None})
        for name, env in policy.environments.items()
    }
    document = policy.document.model_copy(update={"environments": environments})
    return replace(policy, document=document)


def run_demo(
    policy: Policy,
    catalog: Catalog,
    *,
    max_workers: int = 16,
    progress: ProgressCallback | None = None,
) -> tuple[Report, tuple[Deviation, ...]]:
    """Seed a simulated account from the policy, break it on purpose, audit it."""
    policy = single_account(policy)
    bound = {binding.check.id for binding in policy.bindings}
    deviations = tuple(
        d for d in DEMO_DEVIATIONS if d.environment in policy.environments and d.check_id in bound
    )
    try:
        with moto_server() as endpoint_url:
            seed(policy, endpoint_url, deviations=deviations)
            options = RunOptions(
                endpoint_url=endpoint_url,
                max_workers=max_workers,
                session_factory=demo_session,
                progress=progress,
            )
            report = run_audit(policy, catalog, select(policy, catalog), options)
    except MotoNotInstalled as exc:
        raise InputError(str(exc)) from None
    return report, deviations
