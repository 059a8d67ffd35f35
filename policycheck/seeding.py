"""Seeding a simulated AWS account (moto) from a policy, for the demo, the tests and the
benchmarks. :func:`seed` makes every bound check pass; :data:`VIOLATIONS` holds, per check,
the deviation that makes exactly that check fail.

Never used against AWS: the clients carry dummy credentials and a local endpoint.
"""

import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml

from policycheck.aws import client_config, make_client
from policycheck.paths import bundled_catalog_dir
from policycheck.policy import Policy, ResourceInstance
from policycheck.registry import CheckParams
from policycheck.templates import expand

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
#: moto reads a new ECS service's running count from this variable.
MOTO_ECS_RUNNING = "MOTO_ECS_SERVICE_RUNNING"
_ENVIRON_LOCK = threading.Lock()
GIT_IDENTITY = ("-c", "user.name=policycheck demo", "-c", "user.email=demo@example.invalid")


def demo_session(region: str) -> boto3.Session:
    """A session with dummy credentials: it can only ever talk to the local endpoint."""
    return boto3.Session(region_name=region, **DEMO_CREDENTIALS)


@dataclass
class Account:
    """Writers for one simulated account and region; one session, one client per service;
    and the git repository where drill evidence is committed."""

    endpoint_url: str
    region: str
    evidence_dir: Path
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

    @property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


Seeder = Callable[[Account, ResourceInstance, Any], None]


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    with _ENVIRON_LOCK:
        previous = os.environ.get(name)
        os.environ[name] = value
        try:
            yield
        finally:
            if previous is None:
                del os.environ[name]
            else:
                os.environ[name] = previous


def task_role_name(resource: ResourceInstance) -> str:
    """The IAM role the demo gives an ECS service's tasks."""
    return f"{resource.name}-{resource.variables['env']}-task"


def create_resource(
    account: Account,
    resource_type: str,
    group: str,
    resource: ResourceInstance,
    broken: frozenset[str] = frozenset(),
) -> None:
    """Create a resource of the given type (idempotent). ``broken`` names checks whose
    deviation can only be set at creation (moto cannot change it afterwards)."""
    name = resource.name
    if resource_type == "s3_bucket":
        options = {}
        if account.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": account.region}
        account.client("s3").create_bucket(Bucket=name, **options)
    elif resource_type == "dynamodb_table":
        _create_table(account, group, name, broken)
    elif resource_type == "ecr_repository":
        ecr = account.client("ecr")
        with suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=name)
    elif resource_type == "ecs_service":
        _create_service(account, resource)
    elif resource_type == "ssm_parameter":
        account.client("ssm").put_parameter(
            Name=name, Value="demo-secret", Type="SecureString", Overwrite=True
        )
    elif resource_type != "dr_drill":  # drills exist through their evidence
        raise ValueError(f"cannot create {resource_type}")


def _create_table(account: Account, group: str, name: str, broken: frozenset[str]) -> None:
    ddb = account.client("dynamodb")
    if name in ddb.list_tables()["TableNames"]:
        return
    key = TABLE_HASH_KEYS.get(group, "pk")
    if "terraform-lock-table-ready" in broken:
        key = "id"
    sse: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}  # the AWS managed key
    if "dynamodb-encryption-at-rest" in broken:
        sse["KMSMasterKeyId"] = account.client("kms").create_key()["KeyMetadata"]["Arn"]
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification=sse,
    )


def _create_service(account: Account, resource: ResourceInstance) -> None:
    ecs, iam = account.client("ecs"), account.client("iam")
    ecs.create_cluster(clusterName=resource.parent)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            }
        ],
    }
    with suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(
            RoleName=task_role_name(resource), AssumeRolePolicyDocument=json.dumps(trust)
        )
    role_arn = f"arn:aws:iam::{account.account_id}:role/{task_role_name(resource)}"
    task_definition = ecs.register_task_definition(
        family=f"{resource.name}-{resource.variables['env']}",
        taskRoleArn=role_arn,
        containerDefinitions=[{"name": "app", "image": f"{resource.name}:latest", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    with _environ(MOTO_ECS_RUNNING, "1"):
        ecs.create_service(
            cluster=resource.parent,
            serviceName=resource.name,
            taskDefinition=task_definition,
            desiredCount=1,
        )


def _versioning(status: str) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, _params: Any) -> None:
        account.client("s3").put_bucket_versioning(
            Bucket=resource.name, VersioningConfiguration={"Status": status}
        )

    return apply


def _encrypt(account: Account, resource: ResourceInstance, params: Any) -> None:
    algorithm = params.allowed_algorithms[0]
    account.client("s3").put_bucket_encryption(
        Bucket=resource.name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]
        },
    )


def _encrypt_wrongly(account: Account, resource: ResourceInstance, params: Any) -> None:
    s3 = account.client("s3")
    if "aws:kms" in params.allowed_algorithms:
        s3.delete_bucket_encryption(Bucket=resource.name)
        return
    s3.put_bucket_encryption(
        Bucket=resource.name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )


def _block_public_access(*off: str) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, _params: Any) -> None:
        flags = (
            "BlockPublicAcls",
            "IgnorePublicAcls",
            "BlockPublicPolicy",
            "RestrictPublicBuckets",
        )
        account.client("s3").put_public_access_block(
            Bucket=resource.name,
            PublicAccessBlockConfiguration={flag: flag not in off for flag in flags},
        )

    return apply


def _lifecycle(*rules: Callable[[Any], dict[str, Any]]) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, params: Any) -> None:
        account.client("s3").put_bucket_lifecycle_configuration(
            Bucket=resource.name, LifecycleConfiguration={"Rules": [rule(params) for rule in rules]}
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
    def apply(account: Account, resource: ResourceInstance, _params: Any) -> None:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyDelete",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": list(actions),
                    "Resource": f"arn:aws:s3:::{resource.name}/*",
                }
            ],
        }
        account.client("s3").put_bucket_policy(Bucket=resource.name, Policy=json.dumps(policy))

    return apply


def _pitr(days: Callable[[Any], int]) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, params: Any) -> None:
        account.client("dynamodb").update_continuous_backups(
            TableName=resource.name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True,
                "RecoveryPeriodInDays": days(params),
            },
        )

    return apply


def _ttl(enabled: bool) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, params: Any) -> None:
        account.client("dynamodb").update_time_to_live(
            TableName=resource.name,
            TimeToLiveSpecification={
                "Enabled": enabled,
                "AttributeName": params.attribute_name or "expires_at",
            },
        )

    return apply


def _ecr_lifecycle(keep: Callable[[Any], int]) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, params: Any) -> None:
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
            repositoryName=resource.name, lifecyclePolicyText=json.dumps(policy)
        )

    return apply


def _push_image(account: Account, resource: ResourceInstance, _params: Any) -> None:
    ecr = account.client("ecr")
    if not ecr.list_images(repositoryName=resource.name, filter={"tagStatus": "TAGGED"})[
        "imageIds"
    ]:
        ecr.put_image(repositoryName=resource.name, imageManifest=ECR_MANIFEST, imageTag="v1.0.0")


def _remove_images(account: Account, resource: ResourceInstance, _params: Any) -> None:
    ecr = account.client("ecr")
    image_ids = ecr.list_images(repositoryName=resource.name)["imageIds"]
    if image_ids:
        ecr.batch_delete_image(repositoryName=resource.name, imageIds=image_ids)


def _no_change(account: Account, resource: ResourceInstance, params: Any) -> None:
    """Nothing to do: creation already made the resource compliant (or broke it)."""


def _scale_to_zero(account: Account, resource: ResourceInstance, _params: Any) -> None:
    # What the ECS redeploy drill does, left undone.
    account.client("ecs").update_service(
        cluster=resource.parent, service=resource.name, desiredCount=0
    )


def _task_role_policy(*extra_tables: Callable[[ResourceInstance], str]) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, params: Any) -> None:
        table = expand(params.table, resource.variables)
        prefix = f"arn:aws:dynamodb:{account.region}:{account.account_id}:table/"
        resources = [prefix + table, f"{prefix}{table}/index/*"]
        resources += [prefix + extra(resource) for extra in extra_tables]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TokenCache",
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                    ],
                    "Resource": resources,
                }
            ],
        }
        account.client("iam").put_role_policy(
            RoleName=task_role_name(resource),
            PolicyName="token-cache",
            PolicyDocument=json.dumps(policy),
        )

    return apply


def _lock_table_of(resource: ResourceInstance) -> str:
    return f"aiconnectors-terraform-lock-{resource.variables['env']}"


def _parameter_type(kind: str) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, _params: Any) -> None:
        account.client("ssm").put_parameter(
            Name=resource.name, Value="demo-secret", Type=kind, Overwrite=True
        )

    return apply


def _stream_name(resource: ResourceInstance) -> str:
    return f"{resource.name}-delivery"


def _deliver(account: Account, resource: ResourceInstance, params: Any) -> None:
    account.client("firehose").create_delivery_stream(
        DeliveryStreamName=_stream_name(resource),
        DeliveryStreamType="DirectPut",
        DeliveryStreamEncryptionConfigurationInput={"KeyType": "AWS_OWNED_CMK"},
        ExtendedS3DestinationConfiguration={
            "RoleARN": f"arn:aws:iam::{account.account_id}:role/firehose-audit",
            "BucketARN": f"arn:aws:s3:::{resource.name}",
            "BufferingHints": {
                "IntervalInSeconds": params.max_interval_seconds,
                "SizeInMBs": params.max_size_mb,
            },
            "EncryptionConfiguration": {
                "KMSEncryptionConfig": {
                    "AWSKMSKeyARN": (
                        f"arn:aws:kms:{account.region}:{account.account_id}:alias/aws/s3"
                    )
                }
            },
        },
    )


def _buffer_longer(account: Account, resource: ResourceInstance, params: Any) -> None:
    firehose = account.client("firehose")
    stream = firehose.describe_delivery_stream(DeliveryStreamName=_stream_name(resource))[
        "DeliveryStreamDescription"
    ]
    firehose.update_destination(
        DeliveryStreamName=_stream_name(resource),
        CurrentDeliveryStreamVersionId=stream["VersionId"],
        DestinationId=stream["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate={
            "BufferingHints": {
                "IntervalInSeconds": params.max_interval_seconds * 5,
                "SizeInMBs": params.max_size_mb,
            }
        },
    )


def _replicate(other_region: bool) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, _params: Any) -> None:
        region = account.region
        if other_region:
            region = "eu-west-1" if account.region != "eu-west-1" else "eu-central-1"
        replica = f"{resource.name}-replica" + ("" if other_region else "-same-region")
        target = boto3.client(
            "s3", region_name=region, endpoint_url=account.endpoint_url, **DEMO_CREDENTIALS
        )
        options = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        with suppress(target.exceptions.BucketAlreadyOwnedByYou):
            target.create_bucket(Bucket=replica, **options)
        target.put_bucket_versioning(Bucket=replica, VersioningConfiguration={"Status": "Enabled"})
        s3 = account.client("s3")
        s3.put_bucket_versioning(
            Bucket=resource.name, VersioningConfiguration={"Status": "Enabled"}
        )
        s3.put_bucket_replication(
            Bucket=resource.name,
            ReplicationConfiguration={
                "Role": f"arn:aws:iam::{account.account_id}:role/s3-replication",
                "Rules": [
                    {
                        "ID": "dr",
                        "Status": "Enabled",
                        "Priority": 1,
                        "Filter": {},
                        "DeleteMarkerReplication": {"Status": "Disabled"},
                        "Destination": {"Bucket": f"arn:aws:s3:::{replica}"},
                    }
                ],
            },
        )

    return apply


def _git(directory: Path, *args: str) -> None:
    subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=directory, check=True, capture_output=True, text=True
    )


def commit_record(evidence_dir: Path, record: dict[str, Any], message: str) -> Path:
    """Write a drill record as ``<drill>/<date>-<environment>.yaml`` and commit it; the
    evidence directory becomes a git repository of its own if it is in none."""
    if evidence_dir.resolve().is_relative_to(bundled_catalog_dir().resolve()):
        raise ValueError(f"refusing to write demo evidence into {evidence_dir}")
    evidence_dir.mkdir(parents=True, exist_ok=True)
    inside = (
        subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=evidence_dir,
            capture_output=True,
            text=True,
            check=False,
        ).returncode
        == 0
    )
    if not inside:
        _git(evidence_dir, "init", "--quiet")
    path = evidence_dir / record["drill"] / f"{record['date']}-{record['environment']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    _git(evidence_dir, "add", str(path))
    _git(evidence_dir, "commit", "--quiet", "-m", message)
    return path


def _drill_run(days_ago: int, outcome: str) -> Seeder:
    def apply(account: Account, resource: ResourceInstance, params: Any) -> None:
        day = (datetime.now(UTC) - timedelta(days=days_ago)).date()
        minutes = (
            (params.rto_minutes or 60) / 2 if outcome == "pass" else (params.rto_minutes or 60) * 2
        )
        record = {
            "drill": resource.name,
            "date": day.isoformat(),
            "environment": resource.variables["env"],
            "outcome": outcome,
            "time_to_recovery_minutes": minutes,
            "evidence": [f"https://github.com/example/ai-connectors/actions/runs/{days_ago}1"],
            "performed_by": "platform on-call",
        }
        commit_record(account.evidence_dir, record, f"DR drill {resource.name}: {outcome}")

    return apply


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
    "ecs-service-stable": _no_change,
    "dynamodb-access-isolated": _task_role_policy(),
    "ssm-parameter-secure": _no_change,
    "terraform-lock-table-ready": _no_change,
    "dynamodb-encryption-at-rest": _no_change,
    "firehose-delivers-to-audit-bucket": _deliver,
    "s3-cross-region-replication": _replicate(other_region=True),
    "dr-drill-evidence-fresh": _drill_run(days_ago=10, outcome="pass"),
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
    "ecs-service-stable": _scale_to_zero,
    # One more table than its own; reaching another MCP's table would fail two results.
    "dynamodb-access-isolated": _task_role_policy(_lock_table_of),
    "ssm-parameter-secure": _parameter_type("String"),
    "terraform-lock-table-ready": _no_change,  # set at creation: partition key "id"
    "dynamodb-encryption-at-rest": _no_change,  # set at creation: a customer managed key
    "firehose-delivers-to-audit-bucket": _buffer_longer,
    "s3-cross-region-replication": _replicate(other_region=False),
    "dr-drill-evidence-fresh": _drill_run(days_ago=1, outcome="fail"),
}

#: Deviations moto can only take at creation (see create_resource).
AT_CREATION = frozenset({"terraform-lock-table-ready", "dynamodb-encryption-at-rest"})


@dataclass(frozen=True)
class Deviation:
    """A deliberate violation: this check fails on this resource in this environment."""

    environment: str
    check_id: str
    resource_name: str


def seed(
    policy: Policy,
    endpoint_url: str,
    environments: list[str] | None = None,
    deviations: tuple[Deviation, ...] = (),
) -> None:
    """Create every resource the policy names and make every bound check pass, then apply
    the deviations. Drill evidence goes to the policy's evidence directory."""
    accounts: dict[str, Account] = {}

    def account_in(region: str) -> Account:
        return accounts.setdefault(region, Account(endpoint_url, region, policy.evidence_dir))

    for environment in environments or list(policy.environments):
        for group, resource in policy.document.resources.items():
            for instance in policy.resources_in(group, environment):
                broken = frozenset(
                    d.check_id
                    for d in deviations
                    if d.check_id in AT_CREATION
                    and d.environment == environment
                    and d.resource_name == instance.name
                )
                create_resource(account_in(instance.region), resource.type, group, instance, broken)
        for binding in policy.bindings:
            if binding.applies_in(environment):
                for instance in _bound(policy, binding.resource_groups, environment):
                    account = account_in(instance.region)
                    COMPLIANT[binding.check.id](account, instance, binding.params)
    for deviation in deviations:
        instance, params = _target_of(policy, deviation)
        VIOLATIONS[deviation.check_id](account_in(instance.region), instance, params)


def _bound(policy: Policy, groups: tuple[str, ...], environment: str) -> list[ResourceInstance]:
    return [instance for group in groups for instance in policy.resources_in(group, environment)]


def _target_of(policy: Policy, deviation: Deviation) -> tuple[ResourceInstance, CheckParams]:
    for binding in policy.bindings:
        if binding.check.id != deviation.check_id or not binding.applies_in(deviation.environment):
            continue
        for instance in _bound(policy, binding.resource_groups, deviation.environment):
            if instance.name == deviation.resource_name:
                return instance, binding.params
    raise ValueError(f"{deviation.check_id} is not bound to {deviation.resource_name}")
