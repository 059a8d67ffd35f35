"""A plain ECR lifecycle policy simulator: the reference the retention check is tested
against. Written from the AWS documentation ("Lifecycle policy evaluation rules",
"Lifecycle policy properties", "Examples of lifecycle policies"), independently of
checks/ecr.py (no code shared): it applies a policy to a concrete repository at one moment
and says what happens to each image.

What it implements, rule by rule from the documentation:

- Rules apply in ``rulePriority`` order, lowest first.
- A rule selects an image when the image is in the rule's storage class (``storageClass``,
  default ``standard``; a ``sinceImageTransitioned`` rule is about archived images, so it
  selects archived images) and meets its tag status: ``untagged`` images have no tag,
  ``any`` is every image, ``tagged`` needs every ``tagPrefixList`` entry to be a prefix of
  one of the image's tags and every ``tagPatternList`` entry (``*`` = any characters, none
  included) to match one of its tags.
- An image is acted on only by the first rule that selects it ("an image that matches the
  tagging requirements of a rule cannot be expired by a rule with a lower priority").
- ``imageCountMoreThan`` sorts the images the rule sees from newest to oldest push and acts
  on all after the first ``countNumber``; ``sinceImagePushed`` / ``sinceImagePulled`` /
  ``sinceImageTransitioned`` act on the images whose push / last pull (the push when never
  pulled) / archive time is more than ``countNumber`` days before now.
- Which images a rule *sees* is where the documentation is ambiguous: ``"exclusive"``
  (only those no earlier rule selected: "it would see no images because all available
  images were already seen by Rule 1") or ``"inclusive"`` (every image it selects: "can
  still identify them as if they haven't been expired"). Both are offered.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

READINGS = ("exclusive", "inclusive")


@dataclass(frozen=True)
class Image:
    name: str
    tags: tuple[str, ...]
    pushed_at: datetime
    last_pulled_at: datetime | None = None
    #: When it moved to the archive storage class; None while it is in standard.
    archived_at: datetime | None = None

    @property
    def storage_class(self) -> str:
        return "standard" if self.archived_at is None else "archive"


def _pattern_matches(pattern: str, tag: str) -> bool:
    regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, tag, re.S) is not None


def _storage_class(rule: dict) -> str:
    selection = rule["selection"]
    if selection["countType"] == "sinceImageTransitioned":
        return "archive"
    return selection.get("storageClass", "standard").lower()


def selects(rule: dict, image: Image) -> bool:
    """Whether the rule's selection takes in the image."""
    if image.storage_class != _storage_class(rule):
        return False
    selection = rule["selection"]
    status = selection["tagStatus"]
    if status == "any":
        return True
    if status == "untagged":
        return len(image.tags) == 0
    if len(image.tags) == 0:
        return False
    for prefix in selection.get("tagPrefixList", []):
        if not any(tag.startswith(prefix) for tag in image.tags):
            return False
    for pattern in selection.get("tagPatternList", []):
        if not any(_pattern_matches(pattern, tag) for tag in image.tags):
            return False
    return True


def _marked(rule: dict, seen: list[Image], now: datetime) -> list[Image]:
    """The images among ``seen`` that the rule's count marks."""
    selection = rule["selection"]
    number = selection["countNumber"]
    count_type = selection["countType"]
    if count_type == "imageCountMoreThan":
        newest_first = sorted(seen, key=lambda image: image.pushed_at, reverse=True)
        return newest_first[number:]
    marked = []
    for image in seen:
        if count_type == "sinceImagePushed":
            since = image.pushed_at
        elif count_type == "sinceImagePulled":
            since = image.last_pulled_at or image.pushed_at
        else:
            since = image.archived_at
        if since is not None and now - since > timedelta(days=number):
            marked.append(image)
    return marked


def simulate(policy: dict, images: list[Image], now: datetime, reading: str) -> dict[str, str]:
    """What one lifecycle evaluation does: image name -> ``"expire"`` or ``"transition"``
    for every image acted on."""
    assert reading in READINGS
    rules = sorted(policy["rules"], key=lambda rule: rule["rulePriority"])
    first_rule: dict[str, int] = {}
    for number, rule in enumerate(rules):
        for image in images:
            if image.name not in first_rule and selects(rule, image):
                first_rule[image.name] = number
    outcome: dict[str, str] = {}
    for number, rule in enumerate(rules):
        if reading == "exclusive":
            seen = [image for image in images if first_rule.get(image.name) == number]
        else:
            seen = [image for image in images if selects(rule, image)]
        for image in _marked(rule, seen, now):
            if first_rule[image.name] == number:
                outcome[image.name] = rule["action"]["type"]
    return outcome


def newest_tagged(images: list[Image], how_many: int) -> list[str]:
    """The names of the ``how_many`` most recently pushed tagged images that can be pulled."""
    tagged = [image for image in images if image.tags and image.storage_class == "standard"]
    tagged.sort(key=lambda image: image.pushed_at, reverse=True)
    return [image.name for image in tagged[:how_many]]
