"""ECR checks: image retention by lifecycle policy and image availability for recovery."""

from typing import Any

from pydantic import Field

from policycheck.registry import CheckParams, Facts, NoParams, Verdict, check, judge


class RetainTaggedParams(CheckParams):
    min_tagged_images: int = Field(
        10, ge=1, description="How many of the most recent tagged images must be kept."
    )


def _describe(rule: dict[str, Any]) -> str:
    selection = rule.get("selection", {})
    return (
        f"rule {rule.get('rulePriority')} ({selection.get('tagStatus')}, "
        f"{selection.get('countType')} {selection.get('countNumber')})"
    )


@check(
    id="ecr-lifecycle-retains-tagged",
    title="ECR lifecycle policy keeps the most recent tagged images",
    resource_type="ecr_repository",
    severity="medium",
    facts=("ecr_repository.lifecycle_policy",),
    remediation=(
        "aws ecr put-lifecycle-policy --repository-name {name} --lifecycle-policy-text "
        '\'{{"rules":[{{"rulePriority":1,"selection":{{"tagStatus":"tagged",'
        '"tagPatternList":["*"],"countType":"imageCountMoreThan","countNumber":10}},'
        '"action":{{"type":"expire"}}}}]}}\''
    ),
    params=RetainTaggedParams,
)
def lifecycle_retains_tagged(facts: Facts, params: RetainTaggedParams) -> Verdict:
    """A lifecycle rule selecting tagged images keeps more than ``min_tagged_images``
    (``imageCountMoreThan`` >= N), and no rule evaluated before it (lower
    ``rulePriority``) expires tagged images by age or keeps fewer than N. ECR lets the
    first rule whose tag status matches claim an image, so an ``any`` rule counts as
    keeping tagged images when an earlier ``untagged`` rule has claimed the untagged ones."""
    policy = facts["ecr_repository.lifecycle_policy"]
    n = params.min_tagged_images
    expected = {
        "selection": {
            "tagStatus": "tagged",
            "countType": "imageCountMoreThan",
            "countNumber": f">= {n}",
        },
        "earlier_rules": "none expiring tagged images by age or below the count",
    }
    expected_text = f"a rule keeping the {n} most recent tagged images"
    if policy is None:
        return judge(False, "no lifecycle policy", expected_text, expected=expected, observed=None)
    rules = sorted(policy.get("rules", []), key=lambda rule: rule.get("rulePriority", 0))
    earlier_threats = []
    untagged_claimed = False
    for rule in rules:
        selection = rule.get("selection", {})
        if rule.get("action", {}).get("type", "expire") != "expire":
            continue
        status = selection.get("tagStatus")
        if status == "untagged":
            untagged_claimed = True
            continue
        if status not in ("tagged", "any"):
            continue
        count_type, count = selection.get("countType"), selection.get("countNumber", 0)
        only_tagged = status == "tagged" or untagged_claimed
        if count_type == "imageCountMoreThan" and count >= n and only_tagged:
            if earlier_threats:
                break
            return judge(
                True,
                f"{_describe(rule)} keeps the {count} most recent tagged images",
                expected_text,
                expected=expected,
                observed=policy,
            )
        if count_type == "sinceImagePushed":
            earlier_threats.append(f"{_describe(rule)} expires tagged images by age")
        elif count < n:
            earlier_threats.append(f"{_describe(rule)} keeps only {count} images")
        else:
            earlier_threats.append(
                f"{_describe(rule)} keeps {count} images of any status, so newer untagged "
                "images can displace tagged ones"
            )
    text = "; ".join(earlier_threats) or "no rule keeps a count of tagged images"
    return judge(False, text, expected_text, expected=expected, observed=policy)


@check(
    id="ecr-image-available",
    title="ECR repository holds a tagged image to redeploy from",
    resource_type="ecr_repository",
    severity="high",
    facts=("ecr_repository.tagged_images",),
    remediation=(
        "Build and push an image: docker push <account>.dkr.ecr.<region>.amazonaws.com/{name}:<tag>"
    ),
)
def image_available(facts: Facts, params: NoParams) -> Verdict:
    """The repository holds at least one tagged image (recovery plan §4.1 step 1)."""
    images = facts["ecr_repository.tagged_images"] or []
    latest = max(images, key=lambda image: image.get("pushed_at") or "", default=None)
    observed = {"tagged_images": len(images), "latest": latest}
    text = (
        f"{len(images)} tagged image(s); latest {', '.join(latest['tags'])} "
        f"pushed {latest.get('pushed_at')}"
        if latest
        else "no tagged image"
    )
    return judge(
        bool(images),
        text,
        "at least one tagged image",
        expected={"tagged_images": ">= 1"},
        observed=observed,
    )
