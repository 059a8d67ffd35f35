"""ECR facts: the repository's lifecycle policy and its tagged images."""

import json
from typing import Any

from policycheck.facts import FactSpec, register_fact


def _lifecycle_policy(client: Any, repository: str, _account_id: str) -> dict[str, Any]:
    response = client.get_lifecycle_policy(repositoryName=repository)
    return json.loads(response["lifecyclePolicyText"])


def _tagged_images(client: Any, repository: str, _account_id: str) -> list[dict[str, Any]]:
    paginator = client.get_paginator("describe_images")
    pages = paginator.paginate(
        repositoryName=repository,
        filter={"tagStatus": "TAGGED"},
        PaginationConfig={"PageSize": 1000},
    )
    return [
        {
            "digest": image["imageDigest"],
            "tags": sorted(image.get("imageTags", [])),
            "pushed_at": image.get("imagePushedAt"),
        }
        for page in pages
        for image in page["imageDetails"]
    ]


LIFECYCLE_POLICY = register_fact(
    FactSpec(
        "ecr_repository.lifecycle_policy",
        "ecr_repository",
        "ecr",
        "ecr:GetLifecyclePolicy",
        _lifecycle_policy,
        absent_codes=frozenset({"LifecyclePolicyNotFoundException"}),
    )
)
TAGGED_IMAGES = register_fact(
    FactSpec(
        "ecr_repository.tagged_images",
        "ecr_repository",
        "ecr",
        "ecr:DescribeImages",
        _tagged_images,
    )
)
