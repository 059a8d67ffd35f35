"""ECR facts from a plan: a repository's lifecycle policy (``aws_ecr_lifecycle_policy``
matched by ``repository``), as GetLifecyclePolicy's parsed text."""

from typing import Any

from policycheck.plugin.plans import Attachment, PlanGap, PlannedType, PlanReader
from policycheck.sources.terraform.common import Subject, one, policy_document
from policycheck.sources.terraform.state import PlanState

REPOSITORY = "aws_ecr_repository"
ECR_REPOSITORY = PlannedType(
    resource_type="ecr_repository", tf_type=REPOSITORY, name_attr="name", destroys="its images"
)
LIFECYCLE_POLICY_RESOURCE = Attachment("aws_ecr_lifecycle_policy", "repository")


def lifecycle_policy(state: PlanState, subject: Subject) -> Any:
    name = subject.name  # the repository may be managed elsewhere
    tf_type, attribute = LIFECYCLE_POLICY_RESOURCE
    found = state.attached(tf_type, attribute, REPOSITORY, "name", name)
    config = one(found, f"the lifecycle policy of repository {name}")
    return policy_document(config.node) if config is not None else None


LIFECYCLE_POLICY = PlanReader(
    fact="ecr_repository.lifecycle_policy",
    read=lifecycle_policy,
    attachment=LIFECYCLE_POLICY_RESOURCE,
)
TAGGED_IMAGES = PlanGap(
    fact="ecr_repository.tagged_images", why="a plan cannot show the images pushed to a repository"
)
