"""`policycheck plan`: the policy judged on Terraform plans, with the checks of `run`.

In process through the library (a plan is a file: no AWS), except one live audit on moto
that the plan's verdicts are compared with, and two runs of the real CLI."""

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import POLICY_PATH, REPO, MotoServer, run_cli
from planbuilder import (
    FIXTURE,
    NEW_MCP,
    PLAN_DEVIATIONS,
    SECRET,
    deviated,
    patch,
    platform_plan,
)
from policycheck.cli import main
from policycheck.controls import Catalog, load_catalog
from policycheck.demo.seeding import Deviation, demo_session, seed
from policycheck.demo.server import reset
from policycheck.errors import InputError
from policycheck.paths import controls_dir_for
from policycheck.planning import select
from policycheck.plugins import load_registry
from policycheck.policy import Policy, load_policy
from policycheck.render import FORMATS
from policycheck.report import UNJUDGED, Report
from policycheck.runner import RunOptions, run_audit
from policycheck.terraform.audit import plan_audit
from policycheck.terraform.planfile import read_plan
from policycheck.terraform.sources import FROM_PLAN, NOT_FROM_PLAN, plan_judgeable

REGISTRY = load_registry()
BOUND = sorted({b.check.id for b in load_policy(POLICY_PATH).bindings})
#: The bound checks a plan can judge.
JUDGEABLE = [c for c in BOUND if plan_judgeable(REGISTRY.checks[c])]


@pytest.fixture(scope="module")
def compliant() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def judge(
    policy: Policy, catalog: Catalog, tmp_path: Path, *documents: dict[str, Any], env: str = "dev"
) -> Report:
    """The plan report of the documents (each a plan file), in process."""
    paths = []
    for index, document in enumerate(documents):
        path = tmp_path / f"plan-{index}.json"
        path.write_text(json.dumps(document))
        paths.append(path)
    selection = select(policy, catalog, [env])
    return plan_audit(policy, catalog, selection, [read_plan(p) for p in paths])


def statuses(report: Report) -> dict[tuple[str, str], str]:
    return {(r.check_id, r.resource.name): r.status for r in report.results}


def result(report: Report, check_id: str, name: str) -> Any:
    [found] = [r for r in report.results if r.check_id == check_id and r.resource.name == name]
    return found


# --- what a plan can judge ----------------------------------------------------------------


def test_every_fact_says_whether_a_plan_supplies_it() -> None:
    """Declared once per fact: read from a plan, or why a plan cannot show it."""
    assert set(FROM_PLAN).isdisjoint(NOT_FROM_PLAN)
    assert set(FROM_PLAN) | set(NOT_FROM_PLAN) == set(REGISTRY.facts)
    assert JUDGEABLE == [
        "dynamodb-access-isolated",
        "dynamodb-encryption-at-rest",
        "dynamodb-pitr-enabled",
        "dynamodb-ttl-enabled",
        "ecr-lifecycle-retains-tagged",
        "firehose-delivers-to-audit-bucket",
        "s3-encryption-at-rest",
        "s3-lifecycle-archive-and-expire",
        "s3-policy-denies-delete",
        "s3-public-access-blocked",
        "s3-retains-all-versions",
        "s3-versioning-enabled",
        "ssm-parameter-secure",
        "terraform-lock-table-ready",
    ]
    assert not plan_judgeable(REGISTRY.checks["s3-cross-region-replication"])


def test_every_plan_judgeable_check_has_a_plan_deviation() -> None:
    """A check a plan can judge, with a deviation it catches live, has that deviation as
    a change to the plan (tests/planbuilder.py), so the comparison below covers it."""
    judgeable = {c.id for c in REGISTRY.checks.values() if plan_judgeable(c)}
    with_deviation = {c for c in judgeable if REGISTRY.checks[c].examples.deviation.why != "(none)"}
    assert with_deviation == set(PLAN_DEVIATIONS)


def test_fixture_is_the_builders(tmp_path: Path) -> None:
    """The committed plan is what tests/planbuilder.py writes (python tests/planbuilder.py)."""
    assert json.loads(FIXTURE.read_text()) == json.loads(json.dumps(platform_plan("dev")))


def test_compliant_plan(policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict) -> None:
    """Every check a plan can judge passes on every resource (a new MCP's table, role and
    service included, their values unknown until apply where no check needs them); the
    others are not_assessed, saying why; nothing is not_in_plan."""
    report = judge(policy, catalog, tmp_path, compliant)
    for r in report.results:
        expected = "pass" if r.check_id in JUDGEABLE else "not_assessed"
        assert r.status == expected, (r.check_id, r.resource.name, r.message)
    assert report.summary.status == "pass"
    assert report.summary.results.not_in_plan == 0
    assert report.summary.results.not_assessed == 12  # images, services, drills
    assert {r.message for r in report.results if r.status == "not_assessed"} == {
        "a plan cannot show the images pushed to a repository",
        "a plan cannot show whether a service's tasks are running and its deployment completed",
        "a plan cannot show DR drill evidence (records committed to git)",
    }
    assert report.run.sources[0].format_version == "1.2"
    assert report.run.environments[0].account_id == "123456789012"  # from the plan's ARNs
    new = result(report, "dynamodb-pitr-enabled", f"mcp-oauth-storage-{NEW_MCP}-dev")
    assert new.plan.action == "create" and new.plan.before_status is None
    # The recovery period is unset: AWS's 35 days, as DescribeContinuousBackups says it.
    assert new.evidence.facts[0].value["PointInTimeRecoveryDescription"] == {
        "PointInTimeRecoveryStatus": "ENABLED"
    }
    audit = result(report, "s3-lifecycle-archive-and-expire", "nn-aiconnectors-audit-dev")
    assert audit.plan.changed == [
        "module.shared.aws_s3_bucket_lifecycle_configuration.audit (update)"
    ]
    assert audit.plan.before_status == "pass"
    secret = result(
        report, "ssm-parameter-secure", f"/aiconnectors/dev/mcps/{NEW_MCP}/client-secret"
    )
    assert secret.status == "pass"  # from a module nested in a for_each module instance


# --- the same deviation, live and on a plan ---------------------------------------------


def _chosen() -> dict[str, str]:
    """Each judgeable check's dev resource, its own where the policy allows (as the live
    end-to-end test chooses), existing before the plan."""
    policy = load_policy(POLICY_PATH)
    used: set[str] = set()
    chosen = {}
    for check_id in JUDGEABLE:
        names = [
            name
            for b in policy.bindings
            if b.check.id == check_id
            for group in b.resource_groups
            for name in policy.resource_names(group, "dev")
            if NEW_MCP not in name
        ]
        name = next((n for n in names if n not in used), names[0])
        used.add(name)
        chosen[check_id] = name
    return chosen


CHOSEN = _chosen()


@pytest.fixture(scope="module")
def live(_moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """dev seeded on moto with every judgeable check's deviation at once, audited live in
    process (the checks a plan can judge)."""
    directory = tmp_path_factory.mktemp("live")
    (directory / "controls").symlink_to(REPO / "controls")
    text = POLICY_PATH.read_text().replace(
        "evidence_dir: docs/compliance/dr-test-evidence", f"evidence_dir: {directory / 'evidence'}"
    )
    (directory / "policy.yaml").write_text(text)
    (directory / "evidence").mkdir()
    policy = load_policy(directory / "policy.yaml")
    _moto_server.faults.clear()
    reset(_moto_server.url)
    deviations = tuple(Deviation("dev", c, n) for c, n in CHOSEN.items())
    seed(policy, _moto_server.url, environments=["dev"], deviations=deviations)
    catalog = load_catalog(controls_dir_for(policy.path), policy.registry)
    selection = select(policy, catalog, ["dev"], JUDGEABLE)
    options = RunOptions(endpoint_url=_moto_server.url, session_factory=demo_session)
    return run_audit(policy, catalog, selection, options)


@pytest.mark.parametrize("check_id", JUDGEABLE)
def test_live_and_plan_give_the_same_verdict(
    check_id: str,
    live: Report,
    compliant: dict,
    policy: Policy,
    catalog: Catalog,
    tmp_path: Path,
) -> None:
    """The check's deviation fails exactly that check on that resource, live (moto) and
    on the plan; on the plan it is a change: the check passes today."""
    name = CHOSEN[check_id]
    failed_live = {
        r.resource.name for r in live.results if r.check_id == check_id and r.status != "pass"
    }
    assert failed_live == {name}
    report = judge(policy, catalog, tmp_path, deviated(compliant, check_id, name))
    failed = {
        (r.check_id, r.resource.name): r.message
        for r in report.results
        if r.status not in ("pass", *UNJUDGED)
    }
    assert set(failed) == {(check_id, name)}, failed
    found = result(report, check_id, name)
    assert found.status == "fail"
    today = "fail" if any(op.get("before") for op in PLAN_DEVIATIONS[check_id]) else "pass"
    assert found.plan.before_status == today


def test_the_plan_breaks_a_check_in_so_many_words(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict, capsys: pytest.CaptureFixture
) -> None:
    """An update that turns PITR off: the Markdown, the step summary and the terminal say
    what the plan does to the control, and the gate fails."""
    table = "mcp-oauth-storage-teams-dev"
    plan = copy.deepcopy(compliant)
    patch(
        plan,
        {
            "type": "aws_dynamodb_table",
            "where": {"name": table},
            "set": {"point_in_time_recovery": [{"enabled": False, "recovery_period_in_days": 0}]},
        },
    )
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    out = tmp_path / "out"
    code = main(
        [
            "plan",
            str(path),
            "--env",
            "dev",
            "--policy",
            str(POLICY_PATH),
            "-o",
            str(out),
            "--format",
            "json,markdown,summary",
        ]
    )
    assert code == 1
    sentence = (
        f"this plan breaks `dynamodb-pitr-enabled` on `{table}` "
        f'(module.mcp["teams"].aws_dynamodb_table.tokens (update)): point-in-time recovery is '
        "DISABLED; expected ENABLED with at least 35 days — SC.10.01.01 would fail (pass today)"
    )
    assert sentence in capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    assert "## What this plan changes" in markdown and sentence.replace("|", "\\|") in markdown
    assert "**PLAN** this plan breaks" in (out / "summary.md").read_text()
    assert "**Overall: FAIL on the plan** — 35 judged (34 passed, 1 failed" in markdown
