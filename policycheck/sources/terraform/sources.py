"""What a Terraform plan can supply: for every fact, how it is read from a plan, that it
is read from the platform repository as ``policycheck run`` reads it, or why a plan cannot
show it; how a policy's resource is found in a plan. The one place that says
which checks ``policycheck plan`` judges (:func:`plan_judgeable`); a test proves every
registered fact is declared here."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from policycheck.plugin.check import CheckSpec
from policycheck.sources.terraform import dynamodb, ecr, ecs, firehose, s3, ssm
from policycheck.sources.terraform.common import Subject
from policycheck.sources.terraform.state import Instance, PlanState

#: Reads one fact from a plan's resources (raises Unknowable when the plan cannot tell).
Mapper = Callable[[PlanState, Subject], Any]

#: Facts a plan supplies, in the collectors' shapes.
FROM_PLAN: Mapping[str, Mapper] = MappingProxyType(
    {
        "s3_bucket.versioning": s3.versioning,
        "s3_bucket.encryption": s3.encryption,
        "s3_bucket.public_access_block": s3.public_access_block,
        "s3_bucket.lifecycle": s3.lifecycle,
        "s3_bucket.policy": s3.policy,
        "s3_account.public_access_block": s3.account_public_access_block,
        "s3_account.firehose_streams": firehose.streams,
        "dynamodb_table.continuous_backups": dynamodb.continuous_backups,
        "dynamodb_table.ttl": dynamodb.time_to_live,
        "dynamodb_table.description": dynamodb.description,
        "dynamodb_table.kms_key": dynamodb.kms_key,
        "dynamodb_account.resource_policies": dynamodb.resource_policies,
        "ecr_repository.lifecycle_policy": ecr.lifecycle_policy,
        "ecs_cluster.task_roles": ecs.task_roles,
        "ssm_parameter.description": ssm.parameter,
    }
)
#: Facts a standalone resource carries, naming its target by a known attribute (type, the
#: attribute): a plan judges them also when the target is managed elsewhere.
ATTACHMENTS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "s3_bucket.versioning": ("aws_s3_bucket_versioning", "bucket"),
        "s3_bucket.encryption": ("aws_s3_bucket_server_side_encryption_configuration", "bucket"),
        "s3_bucket.public_access_block": ("aws_s3_bucket_public_access_block", "bucket"),
        "s3_bucket.lifecycle": ("aws_s3_bucket_lifecycle_configuration", "bucket"),
        "s3_bucket.policy": ("aws_s3_bucket_policy", "bucket"),
        "ecr_repository.lifecycle_policy": (ecr.LIFECYCLE_POLICY, "repository"),
    }
)
_EVIDENCE = "a plan cannot show DR drill evidence (records committed to git)"
_REPLICATION = (
    "replication is judged live: a plan cannot show the replica bucket's region and "
    "versioning when another module manages it"
)
#: Facts both modes read from the same source by the same fetch: the platform repository's
#: commit (HEAD of the repository holding the policy file). A plan shows neither the
#: backend configuration nor the recovery plan's files, and an apply does not change them:
#: a plan run judges them as they are, as ``policycheck run`` does.
FROM_REPOSITORY: frozenset[str] = frozenset(
    {"terraform_tree.backends", "repository_path.entry", "github_workflow.definition"}
)
_ACCOUNT_IAM = (
    "a plan shows the roles and policies its configuration manages, not every role and "
    "user of the account"
)
#: Facts a plan cannot supply, and why (the reason a not_assessed result gives).
NOT_FROM_PLAN: Mapping[str, str] = MappingProxyType(
    {
        "ecr_repository.tagged_images": "a plan cannot show the images pushed to a repository",
        "ecs_service.description": (
            "a plan cannot show whether a service's tasks are running and its deployment completed"
        ),
        "dr_drill.records": _EVIDENCE,
        "dr_drill.deleted_records": _EVIDENCE,
        "s3_account.iam_principals": _ACCOUNT_IAM,
        "dynamodb_account.iam_principals": _ACCOUNT_IAM,
        "dynamodb_table.resource_policy": (
            "the lock table's resource policy is judged only with every role and user of "
            "the account, which a plan cannot show"
        ),
        "iam_role.trust_policy": (
            "the apply role is what applies the plan: it is created outside the platform's "
            "configuration (a bootstrap), so the platform's plan does not show its trust policy"
        ),
        "s3_bucket.replication": _REPLICATION,
        "s3_bucket.replication_destinations": _REPLICATION,
        "s3_bucket.region": "a plan does not show the region a bucket was created in",
    }
)


@dataclass(frozen=True)
class PlannedType:
    """How a policy's resource type appears in a plan: the Terraform type, the argument
    holding its name, and (for types inside another) how its parent is named."""

    tf_type: str
    name_attr: str
    parent: Callable[[Instance], str] | None = None
    #: What a replacement destroys with the resource (its data); empty when replacing it
    #: loses nothing its new configuration does not restore.
    destroys: str = ""

    def parent_of(self, instance: Instance) -> str:
        return self.parent(instance) if self.parent else ""


PLANNED_TYPES: Mapping[str, PlannedType] = MappingProxyType(
    {
        "s3_bucket": PlannedType(
            "aws_s3_bucket", "bucket", destroys="its objects and all their versions"
        ),
        "dynamodb_table": PlannedType("aws_dynamodb_table", "name", destroys="its items"),
        "ecr_repository": PlannedType("aws_ecr_repository", "name", destroys="its images"),
        "ecs_service": PlannedType(
            "aws_ecs_service", "name", lambda service: ecs.cluster_name(service.node)
        ),
        "ssm_parameter": PlannedType("aws_ssm_parameter", "name"),
    }
)


def why_not_judgeable(check: CheckSpec) -> str | None:
    """Why a plan cannot judge the check (a fact it needs that a plan cannot show); None
    when it can."""
    reasons = [
        NOT_FROM_PLAN.get(fact, f"policycheck does not read {fact} from a plan")
        for fact in check.facts
        if fact not in FROM_PLAN and fact not in FROM_REPOSITORY
    ]
    if check.resource_type not in PLANNED_TYPES and not from_repository(check) and not reasons:
        reasons.append(f"a plan has no {check.resource_type}")
    return "; ".join(dict.fromkeys(reasons)) or None


def from_repository(check: CheckSpec) -> bool:
    """Whether the check judges only facts of the platform repository (a plan run judges
    it on the repository, not on the plans)."""
    return bool(check.facts) and set(check.facts) <= FROM_REPOSITORY


def plan_judgeable(check: CheckSpec) -> bool:
    """Whether ``policycheck plan`` can judge the check: a plan or the platform repository
    supplies every fact it needs (the README's check table says so per check)."""
    return why_not_judgeable(check) is None
