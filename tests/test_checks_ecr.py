import pytest

from checkhelpers import judge


def _rule(priority: int, tag_status: str, count_type: str, count: int, **selection: object) -> dict:
    return {
        "rulePriority": priority,
        "selection": {
            "tagStatus": tag_status,
            "countType": count_type,
            "countNumber": count,
            **({"countUnit": "days"} if count_type == "sinceImagePushed" else {}),
            **selection,
        },
        "action": {"type": "expire"},
    }


def _policy(*rules: dict) -> dict:
    return {"ecr_repository.lifecycle_policy": {"rules": list(rules)}}


KEEP_TAGGED = _rule(2, "tagged", "imageCountMoreThan", 10, tagPatternList=["*"])


def test_retains_tagged_passes() -> None:
    verdict = judge(
        "ecr-lifecycle-retains-tagged",
        _policy(_rule(1, "untagged", "sinceImagePushed", 7), KEEP_TAGGED),
    )
    assert verdict.passed
    assert verdict.message == (
        "rule 2 (tagged, imageCountMoreThan 10) keeps the 10 most recent tagged images"
    )


@pytest.mark.parametrize(("count", "passed"), [(9, False), (10, True), (11, True)])
def test_retains_tagged_count_boundary(count: int, passed: bool) -> None:
    rule = _rule(1, "tagged", "imageCountMoreThan", count, tagPrefixList=["v"])
    assert judge("ecr-lifecycle-retains-tagged", _policy(rule)).passed is passed


def test_earlier_age_rule_on_tagged_images_fails() -> None:
    verdict = judge(
        "ecr-lifecycle-retains-tagged",
        _policy(_rule(1, "tagged", "sinceImagePushed", 30, tagPatternList=["*"]), KEEP_TAGGED),
    )
    assert not verdict.passed
    assert verdict.message.startswith(
        "rule 1 (tagged, sinceImagePushed 30) expires tagged images by age"
    )


def test_later_age_rule_does_not_matter() -> None:
    assert judge(
        "ecr-lifecycle-retains-tagged",
        _policy(
            _rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["*"]),
            _rule(5, "any", "sinceImagePushed", 90),
        ),
    ).passed


def test_earlier_smaller_count_on_tagged_fails() -> None:
    verdict = judge(
        "ecr-lifecycle-retains-tagged",
        _policy(
            _rule(1, "tagged", "imageCountMoreThan", 3, tagPrefixList=["release"]), KEEP_TAGGED
        ),
    )
    assert not verdict.passed
    assert "keeps only 3 images" in verdict.message


def test_any_status_count_does_not_retain_tagged() -> None:
    verdict = judge(
        "ecr-lifecycle-retains-tagged", _policy(_rule(1, "any", "imageCountMoreThan", 20))
    )
    assert not verdict.passed


def test_untagged_only_policy_fails() -> None:
    verdict = judge(
        "ecr-lifecycle-retains-tagged", _policy(_rule(1, "untagged", "sinceImagePushed", 1))
    )
    assert not verdict.passed
    assert verdict.message.startswith("no rule keeps a count of tagged images")


def test_no_lifecycle_policy_fails() -> None:
    verdict = judge("ecr-lifecycle-retains-tagged", {"ecr_repository.lifecycle_policy": None})
    assert not verdict.passed
    assert verdict.message.startswith("no lifecycle policy")


def test_min_tagged_images_parameter() -> None:
    rule = _rule(1, "tagged", "imageCountMoreThan", 5, tagPatternList=["*"])
    assert judge("ecr-lifecycle-retains-tagged", _policy(rule), min_tagged_images=5).passed
    assert not judge("ecr-lifecycle-retains-tagged", _policy(rule), min_tagged_images=6).passed


def test_image_available_passes_and_reports_latest() -> None:
    images = [
        {"digest": "sha256:a", "tags": ["v1"], "pushed_at": "2026-01-01T00:00:00+00:00"},
        {"digest": "sha256:b", "tags": ["v2", "latest"], "pushed_at": "2026-02-01T00:00:00+00:00"},
    ]
    verdict = judge("ecr-image-available", {"ecr_repository.tagged_images": images})
    assert verdict.passed
    assert verdict.observed["tagged_images"] == 2
    assert verdict.observed["latest"]["digest"] == "sha256:b"


def test_image_available_boundary_one_image() -> None:
    image = {"digest": "sha256:a", "tags": ["v1"], "pushed_at": None}
    assert judge("ecr-image-available", {"ecr_repository.tagged_images": [image]}).passed


def test_image_available_empty_repository_fails() -> None:
    verdict = judge("ecr-image-available", {"ecr_repository.tagged_images": []})
    assert not verdict.passed
    assert verdict.message == "no tagged image; expected at least one tagged image"
