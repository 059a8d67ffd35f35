"""ECR checks: image retention by lifecycle policy and image availability for recovery."""

from dataclasses import dataclass
from typing import Any, cast

from pydantic import Field

from policycheck.plugin.check import CheckParams, Facts, NoParams, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples, Json

#: A Docker image manifest with no layers: enough for ECR to hold a tagged image.
DEMO_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"digest": "sha256:" + "0" * 64, "size": 0},
    "layers": [],
}


def _lifecycle_policy(keep: int | str) -> Call:
    """Expire untagged images after 7 days; keep the ``keep`` most recent tagged ones."""
    rules = [
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
                "countNumber": keep,
            },
            "action": {"type": "expire"},
        },
    ]
    return Call(
        "ecr",
        "put_lifecycle_policy",
        {"repositoryName": "{name}", "lifecyclePolicyText": Json({"rules": rules})},
    )


class RetainTaggedParams(CheckParams):
    min_tagged_images: int = Field(
        10, ge=1, description="How many of the most recent tagged images must be kept."
    )


# --- lifecycle policy analysis -------------------------------------------------------------

COUNT = "imageCountMoreThan"
PUSHED, PULLED, TRANSITIONED = "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"
COUNT_TYPES = (COUNT, PUSHED, PULLED, TRANSITIONED)
TAG_STATUSES = ("tagged", "untagged", "any")
ACTIONS = ("expire", "transition")
#: The two readings of how a rule counts images that a rule before it selected: EXCLUSIVE,
#: a rule sees only the images no earlier rule selected ("it would see no images because
#: all available images were already seen by Rule 1"); INCLUSIVE, a rule still counts them
#: ("rules ... can still identify them as if they haven't been expired"; the result of the
#: documentation's example "Filtering on all images" B).
EXCLUSIVE, INCLUSIVE = "exclusive", "inclusive"
READINGS = (EXCLUSIVE, INCLUSIVE)


class UnjudgeablePolicy(ValueError):
    """A policy document ECR would not accept: what it does cannot be told."""


def _glob(pattern: str, tag: str) -> bool:
    """Whether a tagPatternList entry (``*`` matches any run, possibly empty) matches the
    whole tag."""
    if "*" not in pattern:
        return tag == pattern
    head, *middle, tail = pattern.split("*")
    if len(tag) < len(head) + len(tail) or not tag.startswith(head) or not tag.endswith(tail):
        return False
    position, end = len(head), len(tag) - len(tail)
    for part in middle:
        found = tag.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


@dataclass(frozen=True)
class Rule:
    """One lifecycle rule, as ECR evaluates it."""

    priority: int
    status: str
    prefixes: tuple[str, ...]
    patterns: tuple[str, ...]
    #: The rule selects archived images only: ``storageClass: archive``, or a
    #: ``sinceImageTransitioned`` count (only archived images have a transition time, and
    #: ECR requires ``archive`` for it). Otherwise it selects standard (pullable) images.
    archive: bool
    count_type: str
    count: int
    action: str

    @property
    def label(self) -> str:
        return f"rule {self.priority} ({self.status}, {self.count_type} {self.count})"

    def selects(self, tags: frozenset[str]) -> bool:
        """Whether an image of the rule's storage class carrying these tags meets the rule's
        tag requirements: every prefix and every pattern matched by at least one tag."""
        if self.status == "any":
            return True
        if self.status == "untagged":
            return not tags
        return (
            bool(tags)
            and all(any(tag.startswith(prefix) for tag in tags) for prefix in self.prefixes)
            and all(any(_glob(pattern, tag) for tag in tags) for pattern in self.patterns)
        )

    @property
    def selects_one_image_at_most(self) -> bool:
        """A pattern without ``*`` matches one tag, and a tag names one image."""
        return any("*" not in pattern for pattern in self.patterns)


def _strings(selection: dict[str, Any], key: str, priority: int) -> tuple[str, ...]:
    value = selection.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UnjudgeablePolicy(f"rule {priority} has {key} {value!r}, not a list of strings")
    return tuple(value)


def parse_rules(policy: Any) -> list[Rule]:
    """The policy's rules in the order ECR applies them (lowest ``rulePriority`` first)."""
    raw_rules = policy.get("rules") if isinstance(policy, dict) else None
    if not isinstance(raw_rules, list):
        raise UnjudgeablePolicy("the policy has no list of rules")
    rules: list[Rule] = []
    for raw in raw_rules:
        if not isinstance(raw, dict):
            raise UnjudgeablePolicy(f"a rule is {raw!r}, not an object")
        priority = raw.get("rulePriority")
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise UnjudgeablePolicy(f"a rule has rulePriority {priority!r}")
        selection = raw.get("selection")
        action = raw.get("action")
        if not isinstance(selection, dict) or not isinstance(action, dict):
            raise UnjudgeablePolicy(f"rule {priority} lacks a selection or an action")
        status, count_type = selection.get("tagStatus"), selection.get("countType")
        count, action_type = selection.get("countNumber"), action.get("type")
        storage = selection.get("storageClass", "standard")
        problems = [
            f"tagStatus {status!r}" if status not in TAG_STATUSES else "",
            f"countType {count_type!r}" if count_type not in COUNT_TYPES else "",
            f"countNumber {count!r}"
            if not isinstance(count, int) or isinstance(count, bool) or count < 1
            else "",
            f"action type {action_type!r}" if action_type not in ACTIONS else "",
            f"storageClass {storage!r}"
            if not isinstance(storage, str) or storage.lower() not in ("standard", "archive")
            else "",
        ]
        if any(problems):
            found = ", ".join(problem for problem in problems if problem)
            raise UnjudgeablePolicy(f"rule {priority} has {found}, which ECR does not accept")
        prefixes = _strings(selection, "tagPrefixList", priority)
        patterns = _strings(selection, "tagPatternList", priority)
        if status == "tagged" and not (prefixes or patterns):
            raise UnjudgeablePolicy(
                f"rule {priority} selects tagged images without tagPrefixList or tagPatternList"
            )
        rules.append(
            Rule(
                priority=priority,
                status=str(status),
                prefixes=prefixes if status == "tagged" else (),
                patterns=patterns if status == "tagged" else (),
                archive=count_type == TRANSITIONED or storage.lower() == "archive",
                count_type=str(count_type),
                count=cast(int, count),  # checked above: an int >= 1
                action=str(action_type),
            )
        )
    priorities = [rule.priority for rule in rules]
    if len(set(priorities)) != len(priorities):
        twice = sorted({p for p in priorities if priorities.count(p) > 1})
        raise UnjudgeablePolicy(f"rulePriority {twice[0]} is used twice, which ECR does not accept")
    return sorted(rules, key=lambda rule: rule.priority)


def _claimer(rules: list[Rule], tags: frozenset[str]) -> Rule | None:
    """The rule that decides a standard image's fate: the first that selects it."""
    return next((rule for rule in rules if not rule.archive and rule.selects(tags)), None)


def _before(rule: Rule, rules: list[Rule]) -> list[Rule]:
    """The standard-class rules ECR applies before ``rule``."""
    return [r for r in rules if r.priority < rule.priority and not r.archive]


def _fresh(rules: list[Rule]) -> tuple[str, str]:
    """Two characters that occur in no prefix or pattern. A tag built from a rule's entries
    with every ``*`` (and the end of every prefix) filled with these matches exactly the
    entries that every tag matching the rule must match: the fewest possible, so if such an
    image is selected by an earlier rule, every image the rule could select is."""
    used = "".join(entry for rule in rules for entry in (*rule.prefixes, *rule.patterns))
    candidates = "xqzjkwyvubgfhpmdnctrsoleiaXQZJKWYVUBGFHPMDNCTRSOLEIA0123456789_.-~^"
    free = [c for c in candidates if c not in used]
    return free[0], free[1]


def _fresh_tags(rule: Rule, index: int, fresh: tuple[str, str]) -> frozenset[str]:
    """The tags of image ``index`` (0, 1, …) built from ``fresh``: distinct for distinct
    indexes wherever the rule's entries have a ``*``."""
    filler = fresh[0] + fresh[1] * index + fresh[0]
    if rule.status == "any":
        return frozenset({filler})
    tags = {prefix + filler for prefix in rule.prefixes}
    for pattern in rule.patterns:
        head, star, rest = pattern.partition("*")
        tags.add(head + filler + rest.replace("*", fresh[1]) if star else pattern)
    return frozenset(tags)


def _readable_tags(rule: Rule, index: int) -> frozenset[str]:
    """Tags a reader recognises (``latest``, ``v1``, ``v2``…) for image ``index``."""
    word, number = ("latest", "1") if index == 0 else (f"build{index + 1}", str(index + 1))
    if rule.status == "any":
        return frozenset({word})
    tags = {prefix + number if prefix else word for prefix in rule.prefixes}
    for pattern in rule.patterns:
        if "*" not in pattern:
            tags.add(pattern)
        elif not pattern.strip("*"):
            tags.add(word)
        else:
            head, _, rest = pattern.partition("*")
            tags.add(head + number + rest.replace("*", ""))
    return frozenset(tags)


def _claimed_images(rule: Rule, rules: list[Rule], how_many: int) -> list[frozenset[str]]:
    """Tag sets of ``how_many`` images, no tag on two of them, each first selected by
    ``rule``: readable ones when they qualify, else ones built from fresh characters."""
    fresh = _fresh(rules)
    for build in (_readable_tags, lambda r, i: _fresh_tags(r, i, fresh)):
        images = [build(rule, index) for index in range(how_many)]
        tags = [tag for image in images for tag in image]
        if len(tags) == len(set(tags)) and all(_claimer(rules, i) is rule for i in images):
            return images
    raise AssertionError(f"no image is first selected by {rule.label}")  # pragma: no cover


def claiming_rules(rules: list[Rule]) -> list[Rule]:
    """The rules that are the first to select some tagged standard image: only these
    decide the fate of a tagged image."""
    fresh = _fresh(rules)
    return [
        rule
        for rule in rules
        if not rule.archive
        and rule.status != "untagged"
        and "" not in rule.patterns  # a tag is never empty
        and _claimer(rules, _fresh_tags(rule, 0, fresh)) is rule
    ]


@dataclass(frozen=True)
class HistoryImage:
    """An image in a counterexample: its tags (none: untagged) and when it was pushed."""

    tags: tuple[str, ...]
    pushed_days_ago: int
    last_pulled_days_ago: int | None = None


@dataclass(frozen=True)
class Counterexample:
    """A repository in which ``rule`` expires or archives ``images[0]``, one of the newest
    tagged images, when ECR applies the policy, under each reading in ``readings``."""

    rule: Rule
    images: tuple[HistoryImage, ...]
    readings: tuple[str, ...]
    message: str


def _tags_text(tags: frozenset[str] | tuple[str, ...]) -> str:
    names = [f"`{tag}`" for tag in sorted(tags)]
    return f"only {names[0]}" if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _verb(rule: Rule) -> str:
    return "expired" if rule.action == "expire" else "archived"


def _archive_note(rule: Rule) -> str:
    return "" if rule.action == "expire" else "; an archived image cannot be pulled until restored"


def _age_counterexample(rule: Rule, rules: list[Rule]) -> Counterexample:
    [tags] = _claimed_images(rule, rules, 1)
    days = rule.count + 1
    pulled = f" and last pulled {days} days ago" if rule.count_type == PULLED else ""
    return Counterexample(
        rule,
        (HistoryImage(tuple(sorted(tags)), days, days),),
        READINGS,
        f"{rule.label} expires tagged images by age: an image tagged {_tags_text(tags)}, "
        f"pushed {days} days ago{pulled}, is {_verb(rule)} by rule {rule.priority}, the first "
        f"rule that selects it{_archive_note(rule)}",
    )


def _count_counterexample(rule: Rule, rules: list[Rule], n: int) -> Counterexample:
    """``n - 1`` or fewer newer tagged images that the rule also selects, so it ranks the
    image beyond its count."""
    images = _claimed_images(rule, rules, rule.count + 1)
    k = rule.count
    history = tuple(
        HistoryImage(tuple(sorted(tags)), k + 1 - index) for index, tags in enumerate(images)
    )
    others = ", ".join(f"`{min(tags)}`" for tags in images[1:4]) + (", …" if k > 3 else "")
    return Counterexample(
        rule,
        history,
        READINGS,
        f"{rule.label} keeps only {k} images: an image tagged {_tags_text(images[0])}, "
        f"followed by {k} newer image(s) tagged {others}, is {_verb(rule)} by rule "
        f"{rule.priority} although it is one of the {n} newest tagged images{_archive_note(rule)}",
    )


def _untagged_counterexample(rule: Rule, rules: list[Rule]) -> Counterexample:
    """Newer untagged images fill an ``any`` rule's count."""
    [tags] = _claimed_images(rule, rules, 1)
    k = rule.count
    earlier = next((r for r in _before(rule, rules) if r.status == "untagged"), None)
    history = (
        HistoryImage(tuple(sorted(tags)), k + 1),
        *(HistoryImage((), k + 1 - index) for index in range(1, k + 1)),
    )
    note = (
        f" if ECR counts the untagged images that rule {earlier.priority} selects first "
        '(the documentation is ambiguous; its example "Filtering on all images" B counts '
        "them)"
        if earlier
        else ""
    )
    return Counterexample(
        rule,
        history,
        (INCLUSIVE,) if earlier else READINGS,
        f"{rule.label} keeps {k} images of any status, so newer untagged images displace "
        f"tagged ones: an image tagged {_tags_text(tags)}, followed by {k} untagged "
        f"image(s), is {_verb(rule)} by rule {rule.priority}{note}{_archive_note(rule)}",
    )


def retention_counterexample(policy: Any, min_tagged_images: int) -> Counterexample | None:
    """A repository in which the policy expires or archives one of the ``min_tagged_images``
    newest tagged (standard) images, under at least one reading; None when there is none.

    Exact: a tagged image's fate is decided by the first rule selecting it (its claimer).
    An age rule can find it old; a count rule ranks it beyond its count when it selects
    ``count`` newer images, which are at most ``n - 1`` tagged ones (more would push the
    image out of the newest ``n``), and any number of untagged ones for an ``any`` rule
    (under the exclusive reading only if no earlier rule selects untagged images). A rule
    with a pattern without ``*`` selects one image at most. Raises UnjudgeablePolicy."""
    rules = parse_rules(policy)
    n = min_tagged_images
    for rule in claiming_rules(rules):  # standard rules: counts by number, push or pull
        if rule.count_type != COUNT:
            return _age_counterexample(rule, rules)
        if rule.status == "any":
            untagged_claimed_before = any(r.status == "untagged" for r in _before(rule, rules))
            if untagged_claimed_before and rule.count < n:
                return _count_counterexample(rule, rules, n)
            return _untagged_counterexample(rule, rules)
        if rule.count < n and not rule.selects_one_image_at_most:
            return _count_counterexample(rule, rules, n)
    return None


@check(
    id="ecr-lifecycle-retains-tagged",
    passes="rules applied as ECR does (lowest `rulePriority` first; an image is acted on only by "
    "the first rule that selects it): a rule keeps a count of tagged images "
    "(`imageCountMoreThan` ≥ `min_tagged_images`, 10), and for any images, tags, push, pull and "
    "archive times no rule expires or archives (`transition`) any of the 10 newest tagged "
    "images, whichever way ECR counts images an earlier rule selected; a failure names a "
    "repository where one is lost",
    examples=Examples(
        compliant=(_lifecycle_policy("{params.min_tagged_images}"),),
        deviation=Deviation("keeps only the 5 most recent tagged images", (_lifecycle_policy(5),)),
    ),
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
    """The policy keeps the ``min_tagged_images`` (N) newest tagged images, judged the way
    ECR applies it, and passes only if both hold:

    (a) a rule that is the first to select some tagged images keeps a count of them
    (``imageCountMoreThan`` >= N, with wildcards or prefixes, so it can select more than one
    image): no policy, or one without such a rule, fails;

    (b) in every repository the policy could meet (any number of images, any tags, push,
    pull and archive times, untagged images too), no rule expires or archives any of the N
    newest tagged images that can be pulled (standard storage class).

    How ECR applies a policy: rules by ``rulePriority``, lowest first; an image is acted on
    only by the first rule whose selection it meets (tag status, every ``tagPrefixList`` /
    ``tagPatternList`` entry matched by some tag, ``*`` matching any run, and storage
    class). ``imageCountMoreThan`` keeps the newest ``countNumber`` of the images the rule
    sees (by push time) and acts on the rest; the ``since…`` counts act by age in days. A
    ``sinceImageTransitioned`` rule, or one with ``storageClass: archive``, sees archived
    images only, so it neither acts on nor shields a pullable image.

    Archiving is not retention: an archived image cannot be pulled until restored, and the
    recovery plan redeploys from the latest image within a 15-minute RTO, so a rule that
    would ``transition`` one of the N newest tagged images fails like one that expires it.
    Archived images are outside the N (they are not what a redeploy can use); rules that
    expire archived images do not matter here.

    The documentation is ambiguous on whether a rule counts images that an earlier rule
    selected (EXCLUSIVE: no, "it would see no images because all available images were
    already seen by Rule 1"; INCLUSIVE: yes, "can still identify them as if they haven't
    been expired", and the result of its example "Filtering on all images" B). The check
    passes only if the N newest tagged images survive under both readings; INCLUSIVE is the
    stricter one, so e.g. an ``untagged`` rule followed by an ``any`` rule keeping 10 fails:
    the untagged images may take the 10 places.

    A failure names the rule and a concrete repository in which it expires or archives one
    of the N newest tagged images (``retention_counterexample``; the tests replay it in an
    independent simulator). The analysis is exact for one evaluation of any repository
    (any state can be reached: pushes within the 24 hours between evaluations, or none for
    months). It is conservative only where it (1) counts the inclusive reading as possible;
    (2) treats tags as any strings, so a pattern that only matches tags ECR refuses (say
    with ``/``) still selects images; (3) assumes an archive-class rule never shields a
    pullable image; (4) fails a policy ECR would not accept (unknown values, a tagged rule
    without a tag list, a priority used twice) as unjudgeable."""
    policy = facts["ecr_repository.lifecycle_policy"]
    n = params.min_tagged_images
    expected = {
        "selection": {
            "tagStatus": "tagged",
            "countType": "imageCountMoreThan",
            "countNumber": f">= {n}",
        },
        "no_rule": (
            f"expires or archives any of the {n} newest tagged images, in any repository, "
            "whether or not a rule counts images an earlier rule selected"
        ),
    }
    expected_text = (
        f"a rule keeping the {n} most recent tagged images, and no rule expiring or archiving "
        "any of them"
    )

    def verdict(passed: bool, text: str) -> Verdict:
        return judge(passed, text, expected_text, expected=expected, observed=policy)

    if policy is None:
        return judge(False, "no lifecycle policy", expected_text, expected=expected, observed=None)
    try:
        counterexample = retention_counterexample(policy, n)
        claimers = claiming_rules(parse_rules(policy))
    except UnjudgeablePolicy as error:
        return verdict(False, f"cannot tell what the policy does: {error}")
    if counterexample:
        return verdict(False, counterexample.message)
    keepers = [
        rule
        for rule in claimers
        if rule.count_type == COUNT and rule.count >= n and not rule.selects_one_image_at_most
    ]
    if not keepers:
        return verdict(False, f"no rule keeps a count of tagged images (imageCountMoreThan >= {n})")
    text = f"{keepers[0].label} keeps the {keepers[0].count} most recent tagged images"
    others = [rule for rule in claimers if rule is not keepers[0]]
    if others:
        text += (
            "; "
            + ", ".join(rule.label for rule in others)
            + (f" cannot expire or archive any of the {n} newest tagged images either")
        )
    return verdict(True, text)


# --- image availability --------------------------------------------------------------------


def _not_counted(image: dict[str, Any]) -> str | None:
    """Why an image cannot serve a redeploy, or None when it can."""
    if not image.get("tags"):
        return "no tags"
    status = image.get("status") or "ACTIVE"
    return None if status == "ACTIVE" else status


@check(
    id="ecr-image-available",
    passes="the repository holds at least one image with tags that can be pulled "
    "(`imageStatus` `ACTIVE`; archived or restoring images, and images without tags whatever "
    "the server-side filter says, do not count)",
    examples=Examples(
        compliant=(
            Call(
                "ecr",
                "put_image",
                {
                    "repositoryName": "{name}",
                    "imageManifest": Json(DEMO_MANIFEST),
                    "imageTag": "v1.0.0",
                },
                ignore=("ImageAlreadyExistsException",),
            ),
        ),
        deviation=Deviation("no image pushed"),
    ),
    title="ECR repository holds a tagged image to redeploy from",
    resource_type="ecr_repository",
    severity="high",
    facts=("ecr_repository.tagged_images",),
    remediation=(
        "Build and push an image: docker push <account>.dkr.ecr.<region>.amazonaws.com/{name}:<tag>"
        "; or restore an archived one: aws ecr update-image-storage-class --repository-name "
        "{name} --image-id imageTag=<tag> --target-storage-class STANDARD"
    ),
)
def image_available(facts: Facts, params: NoParams) -> Verdict:
    """The repository holds at least one tagged image that can be pulled (recovery plan §4.1
    step 1). An image counts only if its ``imageTags`` is non-empty (the server-side
    ``tagStatus: TAGGED`` filter is not trusted alone) and its ``imageStatus`` is ``ACTIVE``
    (absent counts as ``ACTIVE``, as before ECR had an archive): an ``ARCHIVED`` image cannot
    be pulled, and an ``ACTIVATING`` one not yet."""
    images = facts["ecr_repository.tagged_images"] or []
    usable = [image for image in images if _not_counted(image) is None]
    excluded = [
        {"digest": image.get("digest"), "tags": image.get("tags") or [], "reason": reason}
        for image in images
        if (reason := _not_counted(image)) is not None
    ]
    latest = max(usable, key=lambda image: image.get("pushed_at") or "", default=None)
    observed = {"tagged_images": len(usable), "latest": latest, "not_counted": excluded}
    text = (
        f"{len(usable)} tagged image(s); latest {', '.join(latest['tags'])} "
        f"pushed {latest.get('pushed_at')}"
        if latest
        else "no tagged image"
    )
    if excluded:
        reasons = sorted({item["reason"] for item in excluded})
        text += (
            f" ({len(excluded)} image(s) not counted: "
            + ", ".join(
                f"{sum(item['reason'] == reason for item in excluded)} {reason}"
                for reason in reasons
            )
            + ")"
        )
    return judge(
        bool(usable),
        text,
        "at least one tagged image",
        expected={"tagged_images": ">= 1"},
        observed=observed,
    )
