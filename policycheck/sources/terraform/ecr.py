"""ECR facts from a plan: a repository's lifecycle policy (``aws_ecr_lifecycle_policy``
matched by ``repository``), as GetLifecyclePolicy's parsed text."""

from typing import Any

from policycheck.sources.terraform.common import Subject, one, policy_document
from policycheck.sources.terraform.state import PlanState

LIFECYCLE_POLICY = "aws_ecr_lifecycle_policy"


def lifecycle_policy(state: PlanState, subject: Subject) -> Any:
    name = subject.name  # the repository may be managed elsewhere
    found = state.attached(LIFECYCLE_POLICY, "repository", "aws_ecr_repository", "name", name)
    config = one(found, f"the lifecycle policy of repository {name}")
    return policy_document(config.node) if config is not None else None
