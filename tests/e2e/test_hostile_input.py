"""Property tests: input never crashes the loader; checks never crash on odd facts; two
checks agree with slow reference evaluations written independently here."""

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policycheck.errors import InputError
from policycheck.plugin.registry import load_registry
from policycheck.policy.load import load_policy
from support.checks import REQUIRED_PARAMS, judge
from support.harness import POLICY_PATH

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 500), st.floats(allow_nan=False), st.text(max_size=12)
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _load(path: Path, text: str) -> None:
    path.write_text(text)
    try:
        load_policy(path)
    except InputError as error:
        assert str(error).startswith(str(path)), str(error)


@SETTINGS
@given(document=json_like)
def test_random_yaml_documents(tmp_path_factory: Any, document: Any) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "policy.yaml"
    _load(path, yaml.safe_dump(document))


@SETTINGS
@given(text=st.text(max_size=200))
def test_random_text(tmp_path_factory: Any, text: str) -> None:
    _load(tmp_path_factory.mktemp("fuzz") / "policy.yaml", text)


SHIPPED = yaml.safe_load(POLICY_PATH.read_text())


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(SHIPPED)


@SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), json_like), min_size=1, max_size=3))
def test_valid_shaped_policies_with_random_values(tmp_path_factory: Any, changes: list) -> None:
    document = yaml.safe_load(POLICY_PATH.read_text())
    for path, value in changes:
        node = document
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    directory = tmp_path_factory.mktemp("fuzz")
    (directory / "controls").symlink_to(POLICY_PATH.parent / "controls")
    _load(directory / "policy.yaml", yaml.safe_dump(document))


@SETTINGS
@given(
    check_id=st.sampled_from(sorted(load_registry().checks)),
    values=st.lists(json_like, min_size=3, max_size=3),
)
def test_checks_never_crash_on_odd_but_typed_facts(check_id: str, values: list) -> None:
    """Facts of the right outer type but arbitrary content: a verdict or a clean error the
    runner turns into an `error` result (TypeError/KeyError etc. are caught there); what
    must never happen is a pass on an empty or missing configuration."""
    spec = load_registry().checks[check_id]
    facts = {name: None for name in spec.facts}
    params = REQUIRED_PARAMS.get(check_id, {})
    try:
        verdict = judge(check_id, facts, **params)
    except (AttributeError, TypeError, KeyError):
        return  # the runner reports these as an error result, never a pass
    if check_id not in {"s3-retains-all-versions"}:
        assert not verdict.passed, (check_id, verdict.message)  # nothing configured


# --- s3-policy-denies-delete against a probing reference ----------------------------------

BUCKET = "bucket"
RESOURCE_PARTS = ["arn:aws:s3:::", BUCKET, "/", "logs/", "*", "?", "a", "other"]
PROBE_KEYS = ["z", "zz", "zzz", "a", "logs/z", "logs/", "z/y", "other/z", "?", "*"]


def _regex(pattern: str) -> re.Pattern[str]:
    """IAM wildcard to regex, written independently of policycheck.iam.wildcards."""
    out = ""
    for ch in pattern:
        out += {"*": ".*", "?": "."}.get(ch, re.escape(ch))
    return re.compile(f"^{out}$", re.S)


def _reference_denies(policy: dict, action: str) -> bool:
    """Every probe request for the action on every probe object is denied to anyone by an
    unconditional statement."""
    statements = policy["Statement"]
    for key in PROBE_KEYS:
        arn = f"arn:aws:s3:::{BUCKET}/{key}"
        denied = False
        for s in statements:
            everyone = s.get("Principal") in ("*", {"AWS": "*"})
            acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if (
                s["Effect"] == "Deny"
                and everyone
                and not s.get("Condition")
                and any(_regex(a.lower()).match(action.lower()) for a in acts)
                and any(_regex(r).match(arn) for r in s["Resource"])
            ):
                denied = True
        if not denied:
            return False
    return True


statements = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Deny", "Allow"]),
        "Principal": st.sampled_from(
            ["*", {"AWS": "*"}, {"AWS": "arn:aws:iam::111111111111:root"}]
        ),
        "Action": st.lists(
            st.sampled_from(
                [
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:Delete*",
                    "s3:*",
                    "*",
                    "s3:GetObject",
                    "s3:DeleteObject?ersion",
                ]
            ),
            min_size=1,
            max_size=3,
        ),
        "Resource": st.lists(
            st.lists(st.sampled_from(RESOURCE_PARTS), min_size=1, max_size=5).map("".join),
            min_size=1,
            max_size=2,
        ),
    },
    optional={"Condition": st.just({"Bool": {"aws:SecureTransport": "false"}})},
)


@settings(max_examples=400, deadline=None)
@given(policy=st.lists(statements, min_size=1, max_size=3).map(lambda s: {"Statement": s}))
def test_policy_denies_delete_agrees_with_probing(policy: dict) -> None:
    expected = all(
        _reference_denies(policy, a) for a in ("s3:DeleteObject", "s3:DeleteObjectVersion")
    )
    verdict = judge("s3-policy-denies-delete", {"s3_bucket.policy": policy}, resource=BUCKET)
    assert verdict.passed == expected, (policy, verdict.message)


# --- ecr-lifecycle-retains-tagged against a lifecycle simulation ---------------------------

N = 10


def _simulate(
    rules: list[dict], images: list[tuple[str | None, int]], inclusive: bool = False
) -> set[int]:
    """Indices of images ECR keeps: rules by priority, each image claimed by the first rule
    selecting it; count rules keep the newest N of the images they see, age rules drop older
    ones; a rule acts only on the images it claimed. A rule sees the images it claimed, or
    (inclusive) every image it selects, as the documentation's example "Filtering on all
    images" B counts them."""

    def selects(rule: dict, tag: str | None) -> bool:
        status = rule["selection"]["tagStatus"]
        return status == "any" or (status == "tagged") == (tag is not None)

    claimed: dict[int, dict] = {}
    for rule in sorted(rules, key=lambda r: r["rulePriority"]):
        for index, (tag, _age) in enumerate(images):
            if selects(rule, tag) and index not in claimed:
                claimed[index] = rule
    kept = set(range(len(images))) - set(claimed)
    for rule in rules:
        seen = sorted(
            (
                i
                for i, (tag, _age) in enumerate(images)
                if (selects(rule, tag) if inclusive else claimed.get(i) is rule)
            ),
            key=lambda i: images[i][1],
        )
        selection = rule["selection"]
        if selection["countType"] == "imageCountMoreThan":
            survivors = set(seen[: selection["countNumber"]])
        else:
            survivors = {i for i in seen if images[i][1] <= selection["countNumber"]}
        kept |= {i for i, r in claimed.items() if r is rule and i in survivors}
    return kept


def _reference_retains(rules: list[dict]) -> bool:
    """The policy keeps the N newest tagged images in adversarial image sets, and it is a
    retention rule for tagged images: with many of them, it expires some (the issue's
    "a rule selecting tagged images with imageCountMoreThan >= N")."""
    many = [(f"v{i}", 0) for i in range(N * 3)]  # all pushed today: only a count bounds them
    if len(_simulate(rules, many)) == len(many):
        return False
    sets = [
        [(f"v{i}", 1000 + i) for i in range(N)],  # old tagged images only
        [(None, i) for i in range(N + 5)]
        + [(f"v{i}", 500 + i) for i in range(N)],  # newer untagged
        [(f"v{i}", i) for i in range(N * 3)],  # many tagged images
    ]
    for images in sets:
        tagged = sorted((i for i, (tag, _) in enumerate(images) if tag), key=lambda i: images[i][1])
        for inclusive in (False, True):  # safe whichever way ECR counts claimed images
            if not set(tagged[:N]) <= _simulate(rules, images, inclusive):
                return False
    return True


rule = st.fixed_dictionaries(
    {
        "selection": st.one_of(
            st.fixed_dictionaries(
                {
                    "tagStatus": st.sampled_from(["tagged", "untagged"]),
                    "countType": st.just("imageCountMoreThan"),
                    "countNumber": st.integers(1, 2 * N),
                }
            ),
            st.fixed_dictionaries(
                {
                    "tagStatus": st.sampled_from(["tagged", "untagged"]),
                    "countType": st.just("sinceImagePushed"),
                    "countUnit": st.just("days"),
                    "countNumber": st.integers(1, 2000),
                }
            ),
        ),
        "action": st.just({"type": "expire"}),
    }
)
any_rule = st.fixed_dictionaries(
    {
        "selection": st.fixed_dictionaries(
            {
                "tagStatus": st.just("any"),
                "countType": st.just("imageCountMoreThan"),
                "countNumber": st.integers(1, 2 * N),
            }
        ),
        "action": st.just({"type": "expire"}),
    }
)


@settings(max_examples=400, deadline=None)
@given(rules=st.lists(rule, min_size=1, max_size=4), last=st.one_of(st.none(), any_rule))
def test_ecr_retention_agrees_with_simulation(rules: list[dict], last: dict | None) -> None:
    """Every tagged rule selects every tagged image (pattern *), and an `any` rule comes
    last, as ECR requires: the check and the simulation must agree."""
    ordered = [*rules, last] if last else rules
    for priority, item in enumerate(ordered, start=1):
        item["rulePriority"] = priority
        if item["selection"]["tagStatus"] == "tagged":
            item["selection"]["tagPatternList"] = ["*"]
    policy = {"ecr_repository.lifecycle_policy": {"rules": ordered}}
    verdict = judge("ecr-lifecycle-retains-tagged", policy, min_tagged_images=N)
    assert verdict.passed == _reference_retains(ordered), (ordered, verdict.message)
