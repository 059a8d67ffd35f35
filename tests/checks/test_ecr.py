"""ECR checks. ecr-lifecycle-retains-tagged: unit tests, the AWS documentation's examples
(tests/fixtures/ecr/) run in the simulator (tests/support/ecr_simulator.py), and property tests of
the check against the simulator under both readings of how images an earlier rule selected
count. ecr-image-available: the check and what the collector keeps."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from policycheck.checks.ecr import (
    EXCLUSIVE,
    INCLUSIVE,
    Counterexample,
    retention_counterexample,
)
from policycheck.engine.fetching import read_fact
from policycheck.plugin.facts import FetchContext
from policycheck.plugin.registry import load_registry
from support.checks import judge
from support.ecr_simulator import READINGS, Image, newest_tagged, simulate

CHECK = "ecr-lifecycle-retains-tagged"
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
EXAMPLES = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "ecr" / "aws_lifecycle_examples.json").read_text()
)


def _rule(priority: int, tag_status: str, count_type: str, count: int, **selection: object) -> dict:
    action = selection.pop("action", "expire")
    return {
        "rulePriority": priority,
        "selection": {
            "tagStatus": tag_status,
            "countType": count_type,
            "countNumber": count,
            **({"countUnit": "days"} if count_type != "imageCountMoreThan" else {}),
            **selection,
        },
        "action": {
            "type": action,
            **({"targetStorageClass": "archive"} if action != "expire" else {}),
        },
    }


def _policy(*rules: dict) -> dict:
    return {"ecr_repository.lifecycle_policy": {"rules": list(rules)}}


def _history(counterexample: Counterexample) -> list[Image]:
    """The counterexample's repository as simulator images; ``c0`` is the one it loses."""
    return [
        Image(
            f"c{index}",
            image.tags,
            NOW - timedelta(days=image.pushed_days_ago),
            None
            if image.last_pulled_days_ago is None
            else NOW - timedelta(days=image.last_pulled_days_ago),
        )
        for index, image in enumerate(counterexample.images)
    ]


def _assert_counterexample_holds(policy: dict, n: int) -> Counterexample:
    """The check's counterexample, replayed in the simulator, loses one of the n newest
    tagged images under exactly the readings it names."""
    counterexample = retention_counterexample(policy, n)
    assert counterexample is not None
    history = _history(counterexample)
    assert "c0" in newest_tagged(history, n)
    for reading in READINGS:
        outcome = simulate(policy, history, NOW, reading)
        if reading in counterexample.readings:
            assert outcome.get("c0") == counterexample.rule.action, (reading, outcome)
        else:
            assert "c0" not in outcome, (reading, outcome)
    return counterexample


KEEP_TAGGED = _rule(2, "tagged", "imageCountMoreThan", 10, tagPatternList=["*"])


# --- ecr-lifecycle-retains-tagged: pass, boundary, absent ----------------------------------


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


def test_empty_rule_list_fails() -> None:
    verdict = judge(CHECK, _policy())
    assert not verdict.passed
    assert verdict.message.startswith("no rule keeps a count of tagged images")


# --- the false pass this check had, and rules judged the way ECR applies them ------------


def test_later_rule_expiring_tags_the_count_rule_does_not_select_fails() -> None:
    """Rule 1 keeps the newest 10 `v*` images; rule 2 expires every other tagged image after
    14 days. The check used to judge by the first tagged rule alone and passed."""
    policy = _policy(
        _rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["v*"]),
        _rule(2, "tagged", "sinceImagePushed", 14, tagPatternList=["*"]),
    )
    verdict = judge(CHECK, policy)
    assert not verdict.passed
    assert verdict.message.startswith(
        "rule 2 (tagged, sinceImagePushed 14) expires tagged images by age: an image tagged "
        "only `latest`, pushed 15 days ago, is expired by rule 2"
    )
    assert verdict.observed == policy["ecr_repository.lifecycle_policy"]
    _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)


def test_later_rule_that_selects_only_claimed_images_does_not_matter() -> None:
    """Every `v1*` image is a `v*` image, which rule 1 selects first."""
    assert judge(
        CHECK,
        _policy(
            _rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["v*"]),
            _rule(2, "tagged", "sinceImagePushed", 14, tagPatternList=["v1*"]),
        ),
    ).passed


def test_broader_later_rule_finds_the_images_the_first_misses() -> None:
    """`v*` selects images (say `vx`) that `v1*` does not."""
    policy = _policy(
        _rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["v1*"]),
        _rule(2, "tagged", "sinceImagePushed", 30, tagPatternList=["v*"]),
    )
    verdict = judge(CHECK, policy)
    assert not verdict.passed
    counterexample = _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)
    [tag] = counterexample.images[0].tags
    assert tag.startswith("v") and not tag.startswith("v1")
    assert f"`{tag}`" in verdict.message


def test_all_entries_of_a_tag_list_must_match() -> None:
    """An image is selected only if its tags match every entry: rule 1 (`v` and `stable`)
    does not protect an image tagged `v2` alone, and rule 2 finds it."""
    policy = _policy(
        _rule(1, "tagged", "imageCountMoreThan", 10, tagPrefixList=["v", "stable"]),
        _rule(2, "tagged", "sinceImagePushed", 30, tagPrefixList=["v"]),
    )
    assert not judge(CHECK, policy).passed
    _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)
    reversed_order = _policy(
        _rule(1, "tagged", "imageCountMoreThan", 10, tagPrefixList=["v"]),
        _rule(2, "tagged", "sinceImagePushed", 30, tagPrefixList=["v", "stable"]),
    )
    assert judge(CHECK, reversed_order).passed


def test_age_rule_with_several_tags_loses_an_image_carrying_all() -> None:
    policy = _policy(
        _rule(1, "tagged", "sinceImagePushed", 30, tagPrefixList=["v", "stable"]), KEEP_TAGGED
    )
    verdict = judge(CHECK, policy)
    assert not verdict.passed
    assert "tagged `stable1` and `v1`" in verdict.message
    _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)


def test_since_image_pulled_expires_by_age() -> None:
    policy = _policy(_rule(1, "tagged", "sinceImagePulled", 30, tagPatternList=["*"]), KEEP_TAGGED)
    verdict = judge(CHECK, policy)
    assert not verdict.passed
    assert "last pulled 31 days ago" in verdict.message
    _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)


def test_pattern_without_wildcard_selects_one_image() -> None:
    """A tag names one image, so a rule keeping 1 image tagged `latest` keeps it (but is no
    count of tagged images); an age rule on `latest` still loses it."""
    only_latest = _policy(_rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["latest"]))
    verdict = judge(CHECK, only_latest)
    assert not verdict.passed
    assert verdict.message.startswith("no rule keeps a count of tagged images")
    assert judge(
        CHECK,
        _policy(
            _rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["latest"]), KEEP_TAGGED
        ),
    ).passed
    policy = _policy(
        _rule(1, "tagged", "sinceImagePushed", 7, tagPatternList=["latest"]), KEEP_TAGGED
    )
    verdict = judge(CHECK, policy)
    assert not verdict.passed
    assert "tagged only `latest`" in verdict.message


def test_any_rule_after_a_catch_all_tagged_rule_only_sees_untagged_images() -> None:
    assert judge(
        CHECK,
        _policy(
            _rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["*"]),
            _rule(2, "any", "imageCountMoreThan", 1),
        ),
    ).passed


def test_any_rule_counts_newer_untagged_images() -> None:
    policy = _policy(_rule(1, "any", "imageCountMoreThan", 20))
    verdict = judge(CHECK, policy)
    assert "followed by 20 untagged image(s), is expired by rule 1" in verdict.message
    counterexample = _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)
    assert counterexample.readings == (EXCLUSIVE, INCLUSIVE)


# --- the ambiguity: do images an earlier rule selected count in a later rule? -------------


@pytest.mark.parametrize("count", [10, 25])
def test_untagged_rule_then_any_count_fails_under_the_inclusive_reading(count: int) -> None:
    """Under the exclusive reading the untagged rule takes the untagged images away and the
    `any` rule keeps the newest `count` tagged ones; under the inclusive reading (the
    documentation's "Filtering on all images" B) untagged images take places in the
    count. The check passes only what is safe under both."""
    policy = _policy(
        _rule(1, "untagged", "imageCountMoreThan", 1), _rule(2, "any", "imageCountMoreThan", count)
    )
    verdict = judge(CHECK, policy)
    assert not verdict.passed
    assert "if ECR counts the untagged images that rule 1 selects first" in verdict.message
    counterexample = _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)
    assert counterexample.readings == (INCLUSIVE,)


def test_untagged_rule_then_small_any_count_fails_under_both_readings() -> None:
    policy = _policy(
        _rule(1, "untagged", "sinceImagePushed", 1), _rule(2, "any", "imageCountMoreThan", 9)
    )
    verdict = judge(CHECK, policy)
    assert "keeps only 9 images" in verdict.message
    counterexample = _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)
    assert counterexample.readings == (EXCLUSIVE, INCLUSIVE)


# --- archive: an archived image is not a retained one -------------------------------------


def test_count_rule_that_archives_the_rest_keeps_the_newest() -> None:
    rule = _rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["*"], action="transition")
    assert judge(CHECK, _policy(rule)).passed


@pytest.mark.parametrize(
    "rule",
    [
        _rule(1, "tagged", "imageCountMoreThan", 9, tagPatternList=["*"], action="transition"),
        _rule(1, "tagged", "sinceImagePulled", 90, tagPatternList=["*"], action="transition"),
    ],
)
def test_archiving_one_of_the_newest_fails(rule: dict) -> None:
    policy = _policy(rule, _rule(2, "tagged", "imageCountMoreThan", 10, tagPatternList=["*"]))
    verdict = judge(CHECK, policy)
    assert not verdict.passed
    assert "archived by rule 1" in verdict.message
    assert "an archived image cannot be pulled until restored" in verdict.message
    _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)


def test_rules_on_archived_images_do_not_matter() -> None:
    """Expiring archived images (they cannot be among the newest pullable ones) is fine."""
    assert judge(
        CHECK,
        _policy(
            _rule(1, "tagged", "imageCountMoreThan", 10, tagPatternList=["*"], action="transition"),
            _rule(2, "any", "sinceImageTransitioned", 90, storageClass="archive"),
        ),
    ).passed


def test_rule_on_archived_images_does_not_shield_pullable_ones() -> None:
    policy = _policy(
        _rule(
            1, "tagged", "sinceImageTransitioned", 90, tagPatternList=["*"], storageClass="archive"
        ),
        _rule(2, "tagged", "sinceImagePushed", 30, tagPatternList=["*"]),
    )
    assert not judge(CHECK, policy).passed
    _assert_counterexample_holds(policy["ecr_repository.lifecycle_policy"], 10)


# --- policies ECR would not accept -----------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        ([_rule(1, "tagged", "imageCountMoreThan", 10)], "without tagPrefixList or tagPatternList"),
        ([_rule(1, "sometimes", "imageCountMoreThan", 10)], "tagStatus 'sometimes'"),
        ([_rule(1, "tagged", "imageCountMoreThan", 0, tagPatternList=["*"])], "countNumber 0"),
        ([KEEP_TAGGED, {**KEEP_TAGGED}], "rulePriority 2 is used twice"),
    ],
)
def test_unjudgeable_policy_fails(rules: list[dict], said: str) -> None:
    verdict = judge(CHECK, _policy(*rules))
    assert not verdict.passed
    assert verdict.message.startswith("cannot tell what the policy does")
    assert said in verdict.message


# --- the AWS documentation's examples ------------------------------------------------------


def _example_images(example: dict) -> list[Image]:
    return [
        Image(image["name"], tuple(image["tags"]), NOW - timedelta(days=image["pushed_days_ago"]))
        for image in example["images"]
    ]


@pytest.mark.parametrize("example", EXAMPLES["examples"], ids=lambda e: e["section"])
def test_simulator_reproduces_the_documented_examples(example: dict) -> None:
    images = _example_images(example)
    for reading in READINGS:
        expired = sorted(simulate(example["policy"], images, NOW, reading))
        if reading in example["readings"]:
            assert expired == example["expired"], reading
        else:
            assert expired != example["expired"], reading


def test_documented_example_expires_the_newest_tagged_image() -> None:
    """In "Filtering on all images" B the `any` rule expires D, the newest tagged image:
    the check fails that policy for min_tagged_images 1, and passes the documentation's
    multi-rule examples, whose results keep the newest tagged image."""
    [all_b] = [e for e in EXAMPLES["examples"] if e["section"].endswith("all images, Example B")]
    assert newest_tagged(_example_images(all_b), 1) == ["D"]
    verdict = judge(
        CHECK, {"ecr_repository.lifecycle_policy": all_b["policy"]}, min_tagged_images=1
    )
    assert not verdict.passed
    assert "rule 3 (any, imageCountMoreThan 1)" in verdict.message
    _assert_counterexample_holds(all_b["policy"], 1)
    for example in EXAMPLES["examples"][:2]:
        facts = {"ecr_repository.lifecycle_policy": example["policy"]}
        assert judge(CHECK, facts, min_tagged_images=1).passed
        assert not judge(CHECK, facts, min_tagged_images=2).passed
        _assert_counterexample_holds(example["policy"], 2)


# --- property tests: the check against the simulator ---------------------------------------

PREFIXES = ["v", "v1", "rel", "latest", ""]
PATTERNS = ["*", "v*", "v1*", "*1", "*-rc*", "latest", "rel*", "v*1", "**", "*.*"]
IMAGE_TAGS = [
    *("v1", "v2", "v3", "v11", "v21", "v1-rc1", "rel1", "rel-2", "rel3"),
    *("latest", "main", "1", "2", "x-rc2", "1.0"),
]
COUNT_TYPES = [
    "imageCountMoreThan",
    "sinceImagePushed",
    "sinceImagePulled",
    "sinceImageTransitioned",
]


@st.composite
def lifecycle_policies(draw: st.DrawFn) -> dict:
    rules = []
    for _ in range(draw(st.integers(1, 4))):
        status = draw(st.sampled_from(["tagged", "tagged", "untagged", "any"]))
        selection: dict = {"tagStatus": status}
        if status == "tagged":
            key, values = draw(
                st.sampled_from([("tagPrefixList", PREFIXES), ("tagPatternList", PATTERNS)])
            )
            selection[key] = draw(
                st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True)
            )
        count_type = draw(st.sampled_from(COUNT_TYPES))
        selection["countType"] = count_type
        if count_type == "imageCountMoreThan":
            selection["countNumber"] = draw(st.integers(1, 5))
        else:
            selection["countUnit"] = "days"
            selection["countNumber"] = draw(st.integers(1, 40))
        archive = count_type == "sinceImageTransitioned" or draw(st.integers(0, 9)) == 0
        if archive:
            selection["storageClass"] = "archive"
        elif draw(st.booleans()):
            selection["storageClass"] = "standard"
        transition = not archive and draw(st.booleans())
        action = (
            {"type": "transition", "targetStorageClass": "archive"}
            if transition
            else {"type": "expire"}
        )
        rules.append({"selection": selection, "action": action})
    priorities = draw(
        st.lists(st.integers(1, 20), min_size=len(rules), max_size=len(rules), unique=True)
    )
    for rule, priority in zip(rules, priorities, strict=True):
        rule["rulePriority"] = priority
    return {"rules": rules}


def _tag_makers(policy: dict) -> list[str]:
    """Fixed tags, and templates (``#`` becomes a number unique in the repository) made from
    the policy's own prefixes and patterns, to aim repositories at it."""
    makers = [*IMAGE_TAGS, "v#", "rel#", "#-rc", "build#"]
    for rule in policy["rules"]:
        makers += [prefix + "#" for prefix in rule["selection"].get("tagPrefixList", [])]
        makers += [p.replace("*", "#") for p in rule["selection"].get("tagPatternList", []) if p]
    return makers


@st.composite
def _image_list(draw: st.DrawFn, hours: list[int], untagged: int, makers: list[str]) -> list[Image]:
    """Images pushed ``hours`` ago, the ``untagged`` most recent without tags, the others
    mostly with a tag of one kind; a tag names one image; some pulled, some archived since."""
    used: set[str] = set()
    images = []
    some_makers = st.lists(st.sampled_from(makers), min_size=1, max_size=2)
    focus = draw(some_makers)  # most images carry tags of one kind
    choices = st.one_of(st.just(focus), some_makers, st.just([]))
    for index, age in enumerate(sorted(hours)):
        chosen = [] if index < untagged else draw(choices)
        tags = [maker.replace("#", str(index)) for maker in chosen]
        tags = tuple(dict.fromkeys(tag for tag in tags if tag not in used))
        used.update(tags)
        pushed = NOW - timedelta(hours=age)
        later = st.integers(0, age).map(lambda h, p=pushed: p + timedelta(hours=h))
        pulled = draw(st.one_of(st.none(), later))
        archived = draw(st.one_of(st.none(), st.none(), st.none(), later))
        images.append(Image(f"i{index}", tags, pushed, pulled, archived))
    return images


def repositories(policy: dict) -> st.SearchStrategy[list[Image]]:
    """Up to 10 pushes within a day or over two months, possibly all long ago, possibly with
    a burst of untagged pushes after the tagged ones."""
    spread = st.one_of(st.integers(0, 23), st.integers(0, 24 * 60))
    quiet = st.sampled_from([0, 0, 24 * 30, 24 * 90])  # days since the last push
    hours = st.tuples(quiet, st.lists(spread, min_size=1, max_size=10, unique=True)).map(
        lambda args: [args[0] + hour for hour in args[1]]
    )
    return st.tuples(hours, st.integers(0, 6), st.just(_tag_makers(policy))).flatmap(
        lambda args: _image_list(*args)
    )


def _probes(policy: dict, n: int) -> list[list[Image]]:
    """Plain repositories aimed at each rule: tags made by filling its prefixes and patterns,
    one image pushed and pulled long ago; n images pushed a day apart; one image followed by
    ten untagged pushes."""
    probes = []
    for rule in policy["rules"]:
        selection = rule["selection"]
        for fill in ("1", "z"):

            def tags(index: int, used: set[str], selection: dict = selection, fill: str = fill):
                made = [f"{fill}{index}"] if selection["tagStatus"] != "tagged" else []
                made += [p + fill + str(index) for p in selection.get("tagPrefixList", [])]
                made += [
                    p.replace("*", fill + str(index)) for p in selection.get("tagPatternList", [])
                ]
                fresh = tuple(dict.fromkeys(tag for tag in made if tag and tag not in used))
                used.update(fresh)
                return fresh

            old = NOW - timedelta(days=1000)
            probes.append([Image("p0", tags(0, set()), old, old)])
            used: set[str] = set()
            probes.append(
                [Image(f"p{i}", tags(i, used), NOW - timedelta(days=n - i)) for i in range(n)]
            )
            probes.append(
                [
                    Image("p0", tags(0, set()), NOW - timedelta(days=20)),
                    *(Image(f"u{i}", (), NOW - timedelta(days=19 - i)) for i in range(10)),
                ]
            )
    return probes


PROPERTY = settings(max_examples=400, deadline=None, derandomize=True)


@PROPERTY
@given(policy=lifecycle_policies(), n=st.integers(1, 3), data=st.data())
def test_check_agrees_with_the_simulator(policy: dict, n: int, data: st.DataObject) -> None:
    """(1) When the check finds no counterexample, no repository loses one of its n newest
    tagged images, under either reading; (2) when it names one, replaying it in the
    simulator loses that image, under the readings it names. The verdict follows."""
    counterexample = retention_counterexample(policy, n)
    verdict = judge(CHECK, {"ecr_repository.lifecycle_policy": policy}, min_tagged_images=n)
    if counterexample is not None:
        assert not verdict.passed
        assert verdict.message.startswith(counterexample.message)
        _assert_counterexample_holds(policy, n)
        return
    histories = data.draw(st.lists(repositories(policy), min_size=1, max_size=4))
    for images in [*_probes(policy, n), *histories]:
        newest = set(newest_tagged(images, n))
        for reading in READINGS:
            lost = newest & simulate(policy, images, NOW, reading).keys()
            assert not lost, (reading, lost, images)


# --- ecr-image-available ---------------------------------------------------------------------


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


@pytest.mark.parametrize("images", [[], None])
def test_image_available_empty_repository_fails(images: list | None) -> None:
    verdict = judge("ecr-image-available", {"ecr_repository.tagged_images": images})
    assert not verdict.passed
    assert verdict.message == "no tagged image; expected at least one tagged image"


def test_image_without_tags_does_not_count() -> None:
    """DescribeImages filtered on TAGGED is not trusted alone (moto ignores the filter)."""
    image = {"digest": "sha256:a", "tags": [], "pushed_at": "2026-01-01T00:00:00+00:00"}
    verdict = judge("ecr-image-available", {"ecr_repository.tagged_images": [image]})
    assert not verdict.passed
    assert verdict.message.startswith("no tagged image (1 image(s) not counted: 1 no tags)")


@pytest.mark.parametrize("status", ["ARCHIVED", "ACTIVATING"])
def test_archived_image_is_not_available(status: str) -> None:
    archived = {
        "digest": "sha256:a",
        "tags": ["v2"],
        "pushed_at": "2026-02-01T00:00:00+00:00",
        "status": status,
        "archived_at": "2026-06-01T00:00:00+00:00",
    }
    verdict = judge("ecr-image-available", {"ecr_repository.tagged_images": [archived]})
    assert not verdict.passed
    assert verdict.observed["not_counted"] == [
        {"digest": "sha256:a", "tags": ["v2"], "reason": status}
    ]
    active = {
        "digest": "sha256:b",
        "tags": ["v1"],
        "pushed_at": "2026-01-01T00:00:00+00:00",
        "status": "ACTIVE",
    }
    verdict = judge("ecr-image-available", {"ecr_repository.tagged_images": [archived, active]})
    assert verdict.passed
    assert verdict.observed["latest"]["digest"] == "sha256:b"
    assert verdict.message == (
        f"1 tagged image(s); latest v1 pushed 2026-01-01T00:00:00+00:00 "
        f"(1 image(s) not counted: 1 {status})"
    )


def test_collector_keeps_status_and_untagged_answers() -> None:
    """The collector keeps an image without tags and each image's status for the check."""
    pushed = datetime(2026, 1, 1, tzinfo=UTC)
    details = [
        {"imageDigest": "sha256:a", "imageTags": ["v1"], "imagePushedAt": pushed},
        {"imageDigest": "sha256:b", "imagePushedAt": pushed},
        {
            "imageDigest": "sha256:c",
            "imageTags": ["v0"],
            "imagePushedAt": pushed,
            "imageStatus": "ARCHIVED",
            "lastArchivedAt": pushed,
        },
    ]

    class Client:
        def get_paginator(self, name: str) -> object:
            assert name == "describe_images"
            return self

        def paginate(self, **kwargs: object) -> list[dict]:
            assert kwargs["filter"] == {"tagStatus": "TAGGED"}
            return [{"imageDetails": details}]

    context = FetchContext("mcp-x", "123456789012", "eu-central-1", "", lambda _: Client(), {})
    images = read_fact(load_registry().facts["ecr_repository.tagged_images"], context).value
    assert [(i["digest"], i["tags"], i["status"]) for i in images] == [
        ("sha256:a", ["v1"], None),
        ("sha256:b", [], None),
        ("sha256:c", ["v0"], "ARCHIVED"),
    ]
    assert images[2]["archived_at"] == "2026-01-01T00:00:00+00:00"
    verdict = judge("ecr-image-available", {"ecr_repository.tagged_images": images})
    assert verdict.passed and verdict.observed["tagged_images"] == 1


def test_untagged_image_under_tagged_filter_in_moto_does_not_count() -> None:
    """moto answers DescribeImages filtered on TAGGED with untagged images too: collected and
    judged, a repository holding only an untagged image fails."""
    from policycheck.checks.ecr import DEMO_MANIFEST

    ECR_MANIFEST = json.dumps(DEMO_MANIFEST)

    with mock_aws():
        ecr = boto3.client("ecr", region_name="eu-central-1")
        ecr.create_repository(repositoryName="mcp-x")
        ecr.put_image(repositoryName="mcp-x", imageManifest=ECR_MANIFEST)
        context = FetchContext(
            "mcp-x",
            "123456789012",
            "eu-central-1",
            "",
            lambda service: boto3.client(service, region_name="eu-central-1"),
            {},
        )
        images = read_fact(load_registry().facts["ecr_repository.tagged_images"], context).value
    assert [image["tags"] for image in images] == [[]]
    assert not judge("ecr-image-available", {"ecr_repository.tagged_images": images}).passed
