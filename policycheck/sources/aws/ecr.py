"""ECR repositories: the resource type, and its facts: the lifecycle policy and the
tagged images.

The tagged images are what DescribeImages returns under ``tagStatus: TAGGED`` (by default
ECR returns only ``ACTIVE`` images). Each keeps its tags as listed, possibly none, and its
``imageStatus`` (``ACTIVE``, ``ARCHIVED``, ``ACTIVATING``; absent before ECR had an archive)
and ``lastArchivedAt``: the check, not the filter, decides which images can be redeployed."""

import json
from typing import Any

from policycheck.plugin.examples import Call
from policycheck.plugin.facts import FactSpec, FetchContext
from policycheck.plugin.resources import Listing, ResourceType

ECR_REPOSITORY = ResourceType(
    name="ecr_repository",
    label="ECR repository",
    missing_codes=frozenset({"RepositoryNotFoundException"}),
    arn_template="arn:aws:ecr:{region}:{account_id}:repository/{name}",
    # CreateRepository repositoryName: 2 to 256 characters.
    max_name_length=256,
    listing=Listing(
        action="ecr:DescribeRepositories",
        service="ecr",
        operation="describe_repositories",
        items="repositories",
        name="repositoryName",
        page_size=1000,
    ),
    example=(
        Call(
            "ecr",
            "create_repository",
            {"repositoryName": "{name}"},
            ignore=("RepositoryAlreadyExistsException",),
        ),
    ),
)


def _lifecycle_policy(ctx: FetchContext) -> Any:
    response = ctx.client("ecr").get_lifecycle_policy(repositoryName=ctx.name)
    return json.loads(response["lifecyclePolicyText"])


def _tagged_images(ctx: FetchContext) -> Any:
    pages = (
        ctx.client("ecr")
        .get_paginator("describe_images")
        .paginate(
            repositoryName=ctx.name,
            filter={"tagStatus": "TAGGED"},
            PaginationConfig={"PageSize": 1000},
        )
    )
    return [
        {
            "digest": image["imageDigest"],
            "tags": sorted(image.get("imageTags") or []),
            "pushed_at": image.get("imagePushedAt"),
            "status": image.get("imageStatus"),
            "archived_at": image.get("lastArchivedAt"),
        }
        for page in pages
        for image in page["imageDetails"]
    ]


LIFECYCLE_POLICY = FactSpec(
    "ecr_repository.lifecycle_policy",
    ECR_REPOSITORY,
    ("ecr:GetLifecyclePolicy",),
    _lifecycle_policy,
    absent_codes=frozenset({"LifecyclePolicyNotFoundException"}),
)
TAGGED_IMAGES = FactSpec(
    "ecr_repository.tagged_images", ECR_REPOSITORY, ("ecr:DescribeImages",), _tagged_images
)
