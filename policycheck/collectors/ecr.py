"""ECR facts: the repository's lifecycle policy and its tagged images.

The tagged images are what DescribeImages returns under ``tagStatus: TAGGED`` (by default
ECR returns only ``ACTIVE`` images). Each keeps its tags as listed, possibly none, and its
``imageStatus`` (``ACTIVE``, ``ARCHIVED``, ``ACTIVATING``; absent before ECR had an archive)
and ``lastArchivedAt``: the check, not the filter, decides which images can be redeployed."""

import json
from typing import Any

from policycheck.facts import FactSpec, FetchContext, register_fact


def _lifecycle_policy(ctx: FetchContext) -> dict[str, Any]:
    response = ctx.client("ecr").get_lifecycle_policy(repositoryName=ctx.name)
    return json.loads(response["lifecyclePolicyText"])


def _tagged_images(ctx: FetchContext) -> list[dict[str, Any]]:
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


LIFECYCLE_POLICY = register_fact(
    FactSpec(
        "ecr_repository.lifecycle_policy",
        "ecr_repository",
        ("ecr:GetLifecyclePolicy",),
        _lifecycle_policy,
        absent_codes=frozenset({"LifecyclePolicyNotFoundException"}),
    )
)
TAGGED_IMAGES = register_fact(
    FactSpec(
        "ecr_repository.tagged_images", "ecr_repository", ("ecr:DescribeImages",), _tagged_images
    )
)
