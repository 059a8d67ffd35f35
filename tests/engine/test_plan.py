"""`policycheck plan`: the policy judged on Terraform plans, with the checks of `run`.

In process through the library (a plan is a file: no AWS), except one live audit on moto
that the plan's verdicts are compared with, and two runs of the real CLI."""

import copy
import json
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from policycheck.cli import main
from policycheck.demo.seeding import Deviation, demo_session, seed, seed_repository
from policycheck.engine.plan import judge_plan
from policycheck.engine.planning import select
from policycheck.engine.runner import RunOptions, run_audit
from policycheck.errors import InputError
from policycheck.paths import controls_dir_for
from policycheck.plugin.plans import PlanGap, PlanReader
from policycheck.plugin.registry import load_registry
from policycheck.policy.controls import Catalog, load_catalog
from policycheck.policy.load import Policy, load_policy
from policycheck.render import FORMATS
from policycheck.render.markdown import MARKDOWN
from policycheck.render.view import plan_change_lines
from policycheck.report.model import UNJUDGED, Report
from policycheck.sources.terraform.planfile import read_plan, read_plans
from support.harness import (
    POLICY_PATH,
    REPO,
    MotoServer,
    compliant_platform,
    new_workspace,
    run_cli,
)
from support.planbuilder import (
    FIXTURE,
    NEW_MCP,
    PLAN_DEVIATIONS,
    SECRET,
    PlanBuilder,
    deviated,
    patch,
    platform_plan,
)

REGISTRY = load_registry()
BOUND = sorted({b.check.id for b in load_policy(POLICY_PATH).bindings})
#: The bound checks a plan can judge.
JUDGEABLE = [c for c in BOUND if REGISTRY.plan.judgeable(REGISTRY.checks[c])]
#: Those it judges on the platform repository; the others on the plans.
ON_REPOSITORY = [c for c in JUDGEABLE if REGISTRY.plan.on_repository(REGISTRY.checks[c])]
ON_PLANS = [c for c in JUDGEABLE if c not in ON_REPOSITORY]
#: Why a plan cannot show a fact, by fact.
GAPS = {name: s.why for name, s in REGISTRY.plan.facts.items() if isinstance(s, PlanGap)}
#: Results of the compliant plan not judgeable from a plan (images, services, drills,
#: bucket regions, the account's IAM and the apply role's trust).
NOT_ASSESSED = 17


@pytest.fixture(scope="module")
def compliant() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """The shipped policy in a compliant platform repository."""
    return compliant_platform(tmp_path_factory.mktemp("platform")).policy


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
    return judge_plan(policy, catalog, selection, [read_plan(p) for p in paths])


def plan_cli(policy: Policy, path: Path, out: Path, *more: str) -> int:
    """`policycheck plan PATH --env dev` with the policy, in process: its exit code."""
    return main(
        ["plan", str(path), "--env", "dev", "--policy", str(policy.path), "-o", str(out), *more]
    )


def statuses(report: Report) -> dict[tuple[str, str], str]:
    return {(r.check_id, r.resource.name): r.status for r in report.results}


def result(report: Report, check_id: str, name: str) -> Any:
    [found] = [r for r in report.results if r.check_id == check_id and r.resource.name == name]
    return found


# --- what a plan can judge ----------------------------------------------------------------


def test_every_fact_says_whether_a_plan_supplies_it() -> None:
    """Declared once per fact, beside its reader: read from a plan, from the platform
    repository, or why a plan cannot show it (the registry refuses a fact with none or
    two: tests/plugin/test_registry.py)."""
    assert set(REGISTRY.plan.facts) == set(REGISTRY.facts)
    kinds = {type(source).__name__ for source in REGISTRY.plan.facts.values()}
    assert kinds == {"PlanReader", "PlanGap", "FromRepository"}
    assert ON_REPOSITORY == [
        "recovery-path-present",
        "recovery-workflow-runnable",
        "terraform-backend-encrypted-and-locked",
    ]
    assert ON_PLANS == [
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
    assert not REGISTRY.plan.judgeable(REGISTRY.checks["s3-cross-region-replication"])


def test_every_plan_judgeable_check_has_a_plan_deviation() -> None:
    """A check a plan can judge, with a deviation it catches live, has that deviation as
    a change to the plan (tests/support/planbuilder.py), so the comparison below covers it."""
    judgeable = {
        c.id
        for c in REGISTRY.checks.values()
        if REGISTRY.plan.judgeable(c) and not REGISTRY.plan.on_repository(c)
    }
    with_deviation = {c for c in judgeable if REGISTRY.checks[c].examples.deviation.why != "(none)"}
    assert with_deviation == set(PLAN_DEVIATIONS)


def test_fixture_is_the_builders(tmp_path: Path) -> None:
    """The committed plan is what ``python tests/support/planbuilder.py`` writes."""
    assert json.loads(FIXTURE.read_text()) == json.loads(json.dumps(platform_plan("dev")))


def test_compliant_plan(policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict) -> None:
    """Every check a plan can judge passes on every resource (a new MCP's table, role and
    service included, their values unknown until apply where no check needs them; the
    repository checks on the compliant platform repository); the others are not_assessed,
    saying why; nothing is not_in_plan."""
    report = judge(policy, catalog, tmp_path, compliant)
    for r in report.results:
        expected = "pass" if r.check_id in JUDGEABLE else "not_assessed"
        assert r.status == expected, (r.check_id, r.resource.name, r.message)
    assert report.summary.status == "pass"
    assert report.summary.results.not_in_plan == 0
    # images, services, drills and bucket regions (read live); the account's IAM
    assert report.summary.results.not_assessed == NOT_ASSESSED
    assert {r.message for r in report.results if r.status == "not_assessed"} == {
        "a plan cannot show the images pushed to a repository",
        "a plan cannot show whether a service's tasks are running and its deployment completed",
        "a plan cannot show DR drill evidence (records committed to git)",
        "a plan does not show the region a bucket was created in",
        GAPS["s3_account.iam_principals"],
        "; ".join(
            GAPS[fact]
            for fact in ("dynamodb_table.resource_policy", "dynamodb_account.iam_principals")
        ),
        GAPS["iam_role.trust_policy"],
    }
    repository = [r for r in report.results if r.check_id in ON_REPOSITORY]
    assert len(repository) == 23 and {r.status for r in repository} == {"pass"}
    assert all(r.plan is None for r in repository)  # no plan change: the repository's
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
def live_policy(_moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """The shipped policy with dev seeded on moto and in its platform repository with every
    judgeable check's deviation at once."""
    directory = tmp_path_factory.mktemp("live")
    (directory / "controls").symlink_to(REPO / "controls")
    text = POLICY_PATH.read_text().replace(
        "evidence_dir: docs/compliance/dr-test-evidence", f"evidence_dir: {directory / 'evidence'}"
    )
    (directory / "policy.yaml").write_text(text)
    (directory / "evidence").mkdir()
    policy = load_policy(directory / "policy.yaml")
    _moto_server.empty()
    deviations = tuple(Deviation("dev", c, n) for c, n in CHOSEN.items())
    seed(policy, _moto_server.url, environments=["dev"], deviations=deviations)
    return policy


@pytest.fixture(scope="module")
def live(_moto_server: MotoServer, live_policy: Policy) -> Report:
    """dev audited live in process (the checks a plan can judge)."""
    policy = live_policy
    catalog = load_catalog(controls_dir_for(policy.path), policy.registry)
    selection = select(policy, catalog, ["dev"], JUDGEABLE)
    options = RunOptions(endpoint_url=_moto_server.url, session_factory=demo_session)
    return run_audit(policy, catalog, selection, options)


@pytest.mark.parametrize("check_id", ON_PLANS)
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
    # A replacement destroys the resource's data: the checks a plan cannot judge on it
    # (lock-writers-restricted on the lock table) fail with it, saying so.
    replaced = {
        key
        for key, message in failed.items()
        if key[0] not in JUDGEABLE and key[1] == name and "the plan replaces it" in message
    }
    assert set(failed) - replaced == {(check_id, name)}, failed
    found = result(report, check_id, name)
    assert found.status == "fail"
    today = "fail" if any(op.get("before") for op in PLAN_DEVIATIONS[check_id]) else "pass"
    assert found.plan.before_status == today


def test_live_and_plan_judge_the_repository_alike(
    live_policy: Policy, live: Report, compliant: dict, catalog: Catalog, tmp_path: Path
) -> None:
    """A plan run judges the repository checks on the policy's repository as the live run
    does: the same verdicts and messages, each deviation failing its own check and
    resource (was: not_assessed, "read from the platform repository's commit by
    policycheck run")."""

    def verdicts(report: Report) -> dict[tuple[str, str], tuple[str, str]]:
        return {
            (r.check_id, r.resource.name): (r.status, r.message)
            for r in report.results
            if r.check_id in ON_REPOSITORY
        }

    planned = judge(live_policy, catalog, tmp_path, compliant)
    assert verdicts(planned) == verdicts(live)
    failed = {key for key, (status, _) in verdicts(planned).items() if status != "pass"}
    assert failed == {(c, CHOSEN[c]) for c in ON_REPOSITORY}
    assert planned.summary.status == "fail"  # the repository's failures gate a plan


def test_an_unreadable_repository_is_an_error_in_a_plan_run(
    catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """A policy outside git: the repository checks are errors naming why, as live, never a
    pass; the plan's checks are judged."""
    policy = new_workspace(tmp_path).policy
    report = judge(policy, catalog, tmp_path, compliant)
    repository = [r for r in report.results if r.check_id in ON_REPOSITORY]
    assert repository and {r.status for r in repository} == {"error"}
    assert {r.error.code for r in repository if r.error} == {"RepositoryUnavailable"}
    assert result(report, "dynamodb-pitr-enabled", "mcp-oauth-storage-teams-dev").status == "pass"
    assert report.summary.status == "error"


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
    code = plan_cli(policy, path, out, "--format", "json,markdown,summary")
    assert code == 1
    sentence = (
        f"this plan breaks `dynamodb-pitr-enabled` on `{table}` "
        f'(module.mcp["teams"].aws_dynamodb_table.tokens (update)): point-in-time recovery is '
        "DISABLED; expected ENABLED with at least 35 days — SC.10.01.01 would fail (pass today)"
    )
    assert sentence in capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    report = Report.model_validate_json((out / "report.json").read_text())
    assert plan_change_lines(report) == [sentence]
    [escaped] = plan_change_lines(report, MARKDOWN)  # as report.md escapes it
    assert "## What this plan changes" in markdown and f"- {escaped}" in markdown
    assert "**PLAN** this plan breaks" in (out / "summary.md").read_text()
    assert "**Overall: FAIL on the plan** — 58 judged (57 passed, 1 failed" in markdown


# --- bad input --------------------------------------------------------------------------

STATE = {
    "format_version": "1.0",
    "terraform_version": "1.9.8",
    "values": {"root_module": {"resources": []}},
}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not JSON (line 1, column 2)"),
        ("[]", "not a Terraform plan: expected a JSON object"),
        (json.dumps(STATE), "a Terraform state (terraform show -json of a state), not a plan"),
        (
            json.dumps({"format_version": "2.0", "resource_changes": []}),
            "format_version '2.0' is not supported",
        ),
        (json.dumps({"resource_changes": []}), "not a Terraform plan: no format_version"),
        (
            json.dumps(
                {
                    "format_version": "1.2",
                    "planned_values": {"root_module": {}},
                    "resource_changes": [],
                }
            ),
            "an empty plan: it has no resource to judge",
        ),
        (
            json.dumps({"format_version": "1.2", "resource_changes": [], "errored": True}),
            "the plan errored",
        ),
        (
            json.dumps(
                {
                    "format_version": "1.2",
                    "resource_changes": [
                        {"address": "a.b", "type": "a", "name": "b", "change": {}}
                    ],
                }
            ),
            "resource_changes[0].change.actions: expected a list of actions",
        ),
        (
            json.dumps(
                {
                    "format_version": "1.2",
                    "resource_changes": [
                        {
                            "address": "a.b",
                            "type": "a",
                            "name": "b",
                            "change": {"actions": ["bogus"]},
                        }
                    ],
                }
            ),
            "resource_changes[0].change.actions: unknown action 'bogus'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    policy: Policy, content: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    out = tmp_path / "out"
    code = plan_cli(policy, path, out)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"policycheck: error: {path}: ") and says in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_unreadable_plan_and_unknown_environment(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_plan(tmp_path / "missing.json")
    with pytest.raises(SystemExit):
        main(["plan"])  # argparse: a plan file is required


def test_a_plan_of_another_environment_is_refused_naming_it(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """dev's plan judged as prod (one region, no account: the names are the signal), whole
    or one module of it: exit 2, one line naming dev, no report: never a pass (was: the
    ECR repositories, named alike in both, passed and the rest was not in the plan)."""
    for plan in (compliant, _modules(compliant, "module.shared")):
        with pytest.raises(
            InputError,
            match=r"not a plan of environment prod: its resources have the names of dev "
            r"\(.*\), none of prod's; run with --env dev",
        ):
            judge(policy, catalog, tmp_path, plan, env="prod")
    mcp_only = _modules(compliant, 'module.mcp["teams"]')
    report = judge(policy, catalog, tmp_path, mcp_only, env="dev")  # still judged as dev
    assert result(report, "dynamodb-pitr-enabled", "mcp-oauth-storage-teams-dev").status == "pass"


def test_a_plan_judging_little_says_so_first(
    policy: Policy, compliant: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """One MCP's plan: nearly all the policy names is not in it, said before the counts
    (the repository checks, judged on the repository, do not hide it)."""
    path = tmp_path / "teams.json"
    path.write_text(json.dumps(_modules(compliant, 'module.mcp["teams"]')))
    assert plan_cli(policy, path, tmp_path / "out") == 0
    printed = capsys.readouterr().out
    assert "PASS on the plan: NEARLY ALL NOT IN THE PLAN: 29 of the 75 results name resources " in (
        printed
    )


# --- unknown, sensitive, not in the plan, deleted ------------------------------------------


def test_a_plan_of_none_of_the_policys_resources_judges_nothing(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """The repository's checks, judged whatever the plan, do not make a plan of other
    resources (each named otherwise than the policy's) a judged one: exit 2."""
    text = json.dumps(compliant)
    for name, other in (("-dev", "-sandbox"), ("/dev/", "/sandbox/"), ('"mcp-', '"other-')):
        text = text.replace(name, other)
    elsewhere = json.loads(text)
    with pytest.raises(InputError, match=r"the plan judges nothing in dev: 35 result\(s\) not"):
        judge(policy, catalog, tmp_path, elsewhere)


def test_a_value_needed_and_unknown_until_apply_is_an_error(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict, capsys: pytest.CaptureFixture
) -> None:
    plan = copy.deepcopy(compliant)
    [change] = [
        c
        for c in plan["resource_changes"]
        if c["address"] == 'module.mcp["teams"].aws_dynamodb_table.tokens'
    ]
    change["change"]["actions"] = ["update"]
    change["change"]["after"]["point_in_time_recovery"] = [{}]
    change["change"]["after_unknown"] = {
        "point_in_time_recovery": [{"enabled": True, "recovery_period_in_days": True}]
    }
    report = judge(policy, catalog, tmp_path, plan)
    found = result(report, "dynamodb-pitr-enabled", "mcp-oauth-storage-teams-dev")
    assert found.status == "error" and found.error.code == "UnknownUntilApply"
    assert found.message == (
        'module.mcp["teams"].aws_dynamodb_table.tokens: '
        "point_in_time_recovery[0].enabled is known only after apply"
    )
    assert result(report, "dynamodb-ttl-enabled", "mcp-oauth-storage-teams-dev").status == "pass"
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(plan))
    assert plan_cli(policy, path, tmp_path / "o") == 3
    assert plan_cli(policy, path, tmp_path / "o", "--fail-on", "fail") == 0
    capsys.readouterr()


def test_a_reference_that_cannot_be_followed_is_an_error(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """The state bucket is created: its versioning's ``bucket`` is unknown until apply and
    found through the configuration's reference; without it, which bucket that resource
    configures cannot be told, so no bucket's versioning passes."""
    plan = copy.deepcopy(compliant)
    for change in plan["resource_changes"]:
        if change["address"] == "module.shared.aws_s3_bucket_versioning.state":
            change["change"].update(actions=["create"], before=None)
            del change["change"]["after"]["bucket"]
            change["change"]["after_unknown"] = {"bucket": True, "id": True}
    report = judge(policy, catalog, tmp_path, plan)
    assert (
        result(report, "s3-versioning-enabled", "aiconnectors-terraform-state-dev").status == "pass"
    )
    [module] = [
        m
        for m in plan["configuration"]["root_module"]["module_calls"].values()
        if m["source"] == "./modules/shared"
    ]
    for block in module["module"]["resources"]:
        if block["address"] == "aws_s3_bucket_versioning.state":
            block["expressions"]["bucket"] = {"references": ["var.bucket_id"]}
    report = judge(policy, catalog, tmp_path, plan)
    for name in ("aiconnectors-terraform-state-dev", "nn-aiconnectors-audit-dev"):
        found = result(report, "s3-versioning-enabled", name)
        assert found.status == "error" and "cannot tell which one it configures" in found.message


def test_sensitive_values_are_never_read_nor_reported(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """A parameter's value is sensitive: never in a report, whatever the format. A value
    a check needs that the plan marks sensitive is an error."""
    report = judge(policy, catalog, tmp_path, compliant)
    for fmt in FORMATS.values():
        assert SECRET not in fmt.render(report), fmt.name
    plan = copy.deepcopy(compliant)
    for change in plan["resource_changes"]:
        if change["type"] == "aws_ssm_parameter" and '"teams"' in change["address"]:
            change["change"]["after_sensitive"] = {"value": True, "type": True}
    found = result(
        judge(policy, catalog, tmp_path, plan),
        "ssm-parameter-secure",
        "/aiconnectors/dev/mcps/teams/client-secret",
    )
    assert found.status == "error" and found.error.code == "SensitiveValue"
    assert found.message == (
        'module.mcp["teams"].module.secret.aws_ssm_parameter.this: type is sensitive in the '
        "plan (its value is hidden)"
    )


def _modules(plan: dict, keep: str) -> dict:
    """The plan of one module (Terragrunt plans each module on its own)."""
    part = copy.deepcopy(plan)
    part["resource_changes"] = [
        c for c in part["resource_changes"] if c["address"].startswith(keep)
    ]
    for section in (part["planned_values"], part["prior_state"]["values"]):
        section["root_module"]["child_modules"] = [
            m
            for m in section["root_module"].get("child_modules", [])
            if m["address"].startswith(keep)
        ]
    return part


def test_one_modules_plan_leaves_the_rest_not_in_plan(
    policy: Policy, compliant: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The shared module's plan judges the buckets, the lock table and the stream; the MCP
    resources are not in it: stated with their counts, not gated (exit 0)."""
    path = tmp_path / "shared.json"
    path.write_text(json.dumps(_modules(compliant, "module.shared")))
    out = tmp_path / "out"
    code = plan_cli(policy, path, out, "--format", "json,markdown,csv,junit,sarif,summary,oscal")
    printed = capsys.readouterr().out
    assert code == 0
    report = Report.model_validate_json((out / "report.json").read_text())
    missing = {(r.check_id, r.resource.name) for r in report.results if r.status == "not_in_plan"}
    assert ("dynamodb-pitr-enabled", "mcp-oauth-storage-teams-dev") in missing
    assert all("mcp" in name for _, name in missing)
    counts = report.summary.results
    assert counts.not_in_plan == len(missing) == 24 and counts.fail == counts.error == 0
    line = (
        f"PASS on the plan: {counts.pass_} judged ({counts.pass_} passed, 0 failed, 0 errors), "
        f"24 not in plan, {counts.not_assessed} not judgeable from a plan"
    )
    assert line in printed
    assert (
        "not in plan: `dynamodb-pitr-enabled` on mcp-oauth-storage-databricks-dev (dev)" in printed
    )
    # Nothing failed: no alert (code scanning opens one for any result, whatever its
    # kind); what the plan could not judge is said as notifications.
    [sarif_run] = json.loads((out / "report.sarif").read_text())["runs"]
    assert sarif_run["results"] == []
    notes = [
        n["message"]["text"] for n in sarif_run["invocations"][0]["toolExecutionNotifications"]
    ]
    assert (
        "dynamodb-pitr-enabled: 4 result(s) on resources the plan neither has nor creates"
        in "\n".join(notes)
    )
    junit = (out / "report.junit.xml").read_text()
    assert junit.count('<skipped message="not in the plan:') == 24
    assert (
        ",not_in_plan,mcp-oauth-storage-teams-dev is not in the plan"
        not in (out / "report.csv").read_text()
    )
    assert (
        ",dynamodb-pitr-enabled,not_in_plan,"
        "DynamoDB table mcp-oauth-storage-teams-dev is not in the plan"
        in (out / "report.csv").read_text()
    )
    oscal = json.loads((out / "assessment-results.json").read_text())
    states = {
        f["target"]["target-id"]: f["target"]["status"]["state"]
        for f in oscal["assessment-results"]["results"][0]["findings"]
    }
    assert states["SC.10.01.02_smt"] == "satisfied"  # judged parts pass; counts in the finding
    assert "Terraform plans (" in oscal["assessment-results"]["results"][0]["description"]


def test_several_plans_make_one_report(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """One plan per Terragrunt module (shared, mcp) judge as the whole plan does."""
    (tmp_path / "whole").mkdir()
    (tmp_path / "parts").mkdir()
    whole = judge(policy, catalog, tmp_path / "whole", compliant)
    shared, mcps = _modules(compliant, "module.shared"), _modules(compliant, "module.mcp")
    parts = judge(policy, catalog, tmp_path / "parts", shared, mcps)
    assert statuses(parts) == statuses(whole)
    assert len(parts.run.sources) == 2


def test_what_the_plan_deletes(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """A token table the plan deletes fails every check bound to it; deleting a bucket's
    versioning suspends it, its lifecycle goes; deleting its encryption leaves S3's
    default SSE-S3 (AES256)."""
    plan = copy.deepcopy(compliant)
    gone = {
        'module.mcp["teams"].aws_dynamodb_table.tokens',
        "module.shared.aws_s3_bucket_versioning.state",
        "module.shared.aws_s3_bucket_server_side_encryption_configuration.state",
        "module.shared.aws_s3_bucket_lifecycle_configuration.audit",
    }
    for change in plan["resource_changes"]:
        if change["address"] in gone:
            change["change"].update(
                actions=["delete"], after=None, after_unknown={}, after_sensitive=False
            )
    for module in [
        plan["planned_values"]["root_module"],
        *plan["planned_values"]["root_module"]["child_modules"],
    ]:
        module["resources"] = [r for r in module["resources"] if r["address"] not in gone]
    report = judge(policy, catalog, tmp_path, plan)
    table = "mcp-oauth-storage-teams-dev"
    for check_id in (
        "dynamodb-pitr-enabled",
        "dynamodb-ttl-enabled",
        "dynamodb-encryption-at-rest",
    ):
        found = result(report, check_id, table)
        assert found.status == "fail" and found.message.startswith("the plan deletes it")
        assert (found.plan.action, found.plan.before_status) == ("delete", "pass")
    versioning = result(report, "s3-versioning-enabled", "aiconnectors-terraform-state-dev")
    assert (versioning.status, versioning.message) == (
        "fail",
        "versioning is Suspended; expected Enabled",
    )
    assert (
        result(report, "s3-encryption-at-rest", "aiconnectors-terraform-state-dev").status == "pass"
    )
    lifecycle = result(report, "s3-lifecycle-archive-and-expire", "nn-aiconnectors-audit-dev")
    assert lifecycle.message.startswith("no lifecycle configuration")
    lines = [r for r in report.results if r.status == "fail"]
    assert len(lines) == 5
    on_table = [line for line in plan_change_lines(report) if f"`{table}`" in line]
    assert sorted(on_table) == sorted(
        f'this plan deletes `{table}` (module.mcp["teams"].aws_dynamodb_table.tokens (delete)), '
        f"failing `{check_id}`: {result(report, check_id, table).message} — "
        f"{', '.join(result(report, check_id, table).control_ids)} would fail (pass today)"
        for check_id in (
            "dynamodb-pitr-enabled",
            "dynamodb-ttl-enabled",
            "dynamodb-encryption-at-rest",
        )
    )


def test_a_replacement_destroys_the_data_of_a_table_or_bucket(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """Replacing a table or a bucket (either order of delete and create) destroys its
    items or versions: every check bound to it fails, and says so, one line per check.
    Replacing an SSM parameter loses nothing: it is judged on its new configuration, and
    the replacement is still stated."""
    table, bucket = "mcp-oauth-storage-teams-dev", "nn-aiconnectors-audit-dev"
    parameter = "/aiconnectors/dev/mcps/teams/client-secret"
    plan = copy.deepcopy(compliant)
    patch(plan, {"type": "aws_dynamodb_table", "where": {"name": table}, "action": "replace"})
    patch(plan, {"type": "aws_s3_bucket", "where": {"bucket": bucket}, "action": "replace"})
    patch(plan, {"type": "aws_ssm_parameter", "where": {"name": parameter}, "action": "replace"})
    [entry] = [
        c
        for c in plan["resource_changes"]
        if c["type"] == "aws_s3_bucket" and (c["change"]["after"] or {}).get("bucket") == bucket
    ]
    entry["change"]["actions"] = ["create", "delete"]  # create_before_destroy
    report = judge(policy, catalog, tmp_path, plan)
    for check_id in ("dynamodb-pitr-enabled", "dynamodb-ttl-enabled"):
        found = result(report, check_id, table)
        assert found.status == "fail"
        assert found.message.startswith("the plan replaces it (")
        assert "its items are destroyed" in found.message
        assert (found.plan.action, found.plan.before_status) == ("replace", "pass")
    versions = result(report, "s3-versioning-enabled", bucket)
    assert versions.status == "fail" and "all their versions are destroyed" in versions.message
    secure = result(report, "ssm-parameter-secure", parameter)
    assert (secure.status, secure.plan.action) == ("pass", "replace")
    lines = plan_change_lines(report)
    assert any(
        line.startswith(f"this plan replaces `{parameter}`")
        and "passing `ssm-parameter-secure`" in line
        for line in lines
    )
    on_table = [line for line in lines if f"`{table}`" in line]
    assert len(on_table) == len(set(on_table)) == 3
    assert all("failing `dynamodb-" in line for line in on_table)


def test_a_rename_deletes_the_resource_of_the_old_name(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """A new name forces a replacement: the table of the policy's name is deleted (not
    "not in the plan"), every check bound to it fails and the gate exits 1."""
    table = "mcp-oauth-storage-teams-dev"
    plan = copy.deepcopy(compliant)
    patch(
        plan,
        {
            "type": "aws_dynamodb_table",
            "where": {"name": table},
            "set": {"name": f"{table}-v2"},
            "action": "replace",
        },
    )
    report = judge(policy, catalog, tmp_path, plan)
    for check_id in (
        "dynamodb-pitr-enabled",
        "dynamodb-ttl-enabled",
        "dynamodb-encryption-at-rest",
    ):
        found = result(report, check_id, table)
        assert found.status == "fail", found.message
        assert found.message.startswith("the plan deletes it (")
        assert "replaced under another name" in found.message
        assert found.plan.action == "delete"
    assert report.summary.status == "fail"


def test_name_patterns_match_the_plans_names(
    workspace: Any, tmp_path: Path, compliant: dict
) -> None:
    """A pattern matches the names the plan has (the run's matcher); one that matches
    nothing is not in the plan, not a failure."""

    def edit(document: dict) -> None:
        document["resources"]["token_tables"]["name"] = "mcp-oauth-storage-*-{env}"
        document["resources"]["ecr_repositories"]["name"] = "nothing-like-it-*"

    workspace.edit(edit)
    policy = workspace.policy
    catalog = load_catalog(controls_dir_for(policy.path), policy.registry)
    report = judge(policy, catalog, tmp_path, compliant)
    tables = {r.resource.name for r in report.results if r.check_id == "dynamodb-pitr-enabled"}
    assert tables == {
        f"mcp-oauth-storage-{m}-dev" for m in ("sharepoint", "outlook-mcp", "teams", "databricks")
    }
    [repos] = [r for r in report.results if r.check_id == "ecr-lifecycle-retains-tagged"]
    assert repos.status == "not_in_plan" and "matches 'nothing-like-it-*'" in repos.message


# --- the gate against an earlier report -------------------------------------------------


def test_fail_on_new_gates_only_what_changed(
    policy: Policy, compliant: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    first = tmp_path / "first.json"
    first.write_text(
        json.dumps(deviated(compliant, "dynamodb-ttl-enabled", "mcp-oauth-storage-teams-dev"))
    )
    assert plan_cli(policy, first, tmp_path / "a") == 1
    baseline = str(tmp_path / "a" / "report.json")
    assert plan_cli(policy, first, tmp_path / "b", "--fail-on-new", baseline) == 0
    second = deviated(
        json.loads(first.read_text()), "dynamodb-pitr-enabled", "mcp-oauth-storage-teams-dev"
    )
    (tmp_path / "second.json").write_text(json.dumps(second))
    assert (
        plan_cli(policy, tmp_path / "second.json", tmp_path / "c", "--fail-on-new", baseline) == 1
    )
    capsys.readouterr()


def test_diff_of_a_live_report_and_a_plan(
    policy: Policy, compliant: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """What a plan does not judge is listed as not compared, never resolved nor coverage
    lost; merge keeps the plan sources."""
    from policycheck.report.diff import diff_reports, is_regression
    from policycheck.report.merge import merge_reports

    shared = tmp_path / "shared.json"
    shared.write_text(json.dumps(_modules(compliant, "module.shared")))
    whole = tmp_path / "whole.json"
    whole.write_text(
        json.dumps(deviated(compliant, "dynamodb-ttl-enabled", "mcp-oauth-storage-teams-dev"))
    )
    plan_cli(policy, whole, tmp_path / "old")
    plan_cli(policy, shared, tmp_path / "new")
    capsys.readouterr()
    old = Report.model_validate_json((tmp_path / "old" / "report.json").read_text())
    new = Report.model_validate_json((tmp_path / "new" / "report.json").read_text())
    changes = diff_reports(old, new)
    assert not changes["resolved_failures"] and not changes["coverage_lost"]
    assert not is_regression(changes)
    assert {e["status"] for e in changes["not_compared"]} == {"not_in_plan"}
    merged = merge_reports([new], ["new"])
    assert merged.run.sources == new.run.sources
    assert merged.summary.results == new.summary.results


# --- the real command line --------------------------------------------------------------


def test_cli_judges_a_plan(policy: Policy, tmp_path: Path) -> None:
    """`policycheck plan` as a user runs it (the policy in its platform repository):
    reports written, the summary line, exit 0."""
    shutil.copy(FIXTURE, tmp_path / "plan.json")
    result = run_cli("plan", "plan.json", "--env", "dev", "--policy", policy.path, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "PASS on the plan: 58 judged (58 passed, 0 failed, 0 errors), 0 not in plan, "
        "17 not judgeable from a plan" in result.stdout
    )
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["run"]["sources"][0]["path"] == "plan.json"


def test_cli_refuses_a_state_file(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps(STATE))
    result = run_cli("plan", "state.json", "--env", "dev", "--policy", POLICY_PATH, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("policycheck: error: state.json: a Terraform state")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_waivers_apply_to_plan_failures(workspace: Any, tmp_path: Path, compliant: dict) -> None:
    """A failure the policy waives is waived on the plan as live: it does not gate."""
    table = "mcp-oauth-storage-teams-dev"
    workspace.edit(
        lambda document: document.setdefault("waivers", []).append(
            {
                "check": "dynamodb-ttl-enabled",
                "environment": "dev",
                "resource": table,
                "justification": "tokens expire in the application until the migration",
                "owner": "platform-team",
                "ticket": "SEC-7",
                "expires": str(date.today() + timedelta(days=30)),
            }
        )
    )
    seed_repository(workspace.policy)
    policy = workspace.policy
    catalog = load_catalog(controls_dir_for(policy.path), policy.registry)
    report = judge(policy, catalog, tmp_path, deviated(compliant, "dynamodb-ttl-enabled", table))
    assert result(report, "dynamodb-ttl-enabled", table).status == "waived"
    assert report.summary.status == "waived"


def test_an_environment_in_two_regions_places_each_plan(
    workspace: Any, tmp_path: Path, compliant: dict
) -> None:
    """In an environment of several regions a plan goes where its provider's region and
    its ARNs say; a plan that says neither is refused (exit 2)."""

    def two_regions(document: dict) -> None:
        document["environments"]["dev"] = {"regions": ["eu-central-1", "eu-west-1"]}
        for bucket in ("state_bucket", "audit_bucket"):  # a bucket lives in one region
            document["resources"][bucket]["regions"] = ["eu-central-1"]

    workspace.edit(two_regions)
    policy = workspace.policy
    catalog = load_catalog(controls_dir_for(policy.path), policy.registry)
    report = judge(policy, catalog, tmp_path, compliant)
    regions = {r.resource.region for r in report.results if r.status == "pass"}
    assert regions == {"eu-central-1"}
    missing = {r.resource.region for r in report.results if r.status == "not_in_plan"}
    assert missing == {"eu-west-1"}  # the west region's resources: no plan for them
    anonymous = copy.deepcopy(compliant)
    del anonymous["configuration"]["provider_config"]
    for change in anonymous["resource_changes"]:
        for side in ("before", "after"):
            if isinstance(change["change"][side], dict):
                change["change"][side].pop("arn", None)
    with pytest.raises(InputError, match=r"environment dev spans \?/eu-central-1, \?/eu-west-1"):
        judge(policy, catalog, tmp_path, anonymous)


def test_a_plan_of_another_account_or_region_is_refused(
    workspace: Any, tmp_path: Path, compliant: dict
) -> None:
    """The dev plan judged as prod, whose account and region the policy names: exit 2,
    one line naming the file, the environment and what differs (not a pass on the
    resources whose names have no {env})."""

    def prod_elsewhere(document: dict) -> None:
        document["environments"]["prod"] = {"region": "eu-west-1", "account_id": "999999999999"}

    workspace.edit(prod_elsewhere)
    policy = workspace.policy
    catalog = load_catalog(controls_dir_for(policy.path), policy.registry)
    with pytest.raises(InputError) as raised:
        judge(policy, catalog, tmp_path, compliant, env="prod")
    assert str(raised.value) == (
        f"{tmp_path / 'plan-0.json'}: not a plan of environment prod: it names region "
        "eu-central-1 (prod: eu-west-1) and account 123456789012 (prod: 999999999999)"
    )
    account_only = copy.deepcopy(compliant)
    del account_only["configuration"]["provider_config"]
    for change in account_only["resource_changes"]:
        for side in ("before", "after"):
            if isinstance(change["change"][side], dict) and "arn" in change["change"][side]:
                arn = change["change"][side]["arn"]
                change["change"][side]["arn"] = arn.replace(":eu-central-1:", ":eu-west-1:")
    with pytest.raises(InputError, match=r"it names account 123456789012 \(prod: 999999999999\)$"):
        judge(policy, catalog, tmp_path, account_only, env="prod")


def test_a_flag_that_is_not_a_boolean_is_an_error(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """PITR ``enabled: "yes"`` (a truthy string) is not read as true: an error naming
    the value, never a pass."""
    table = "mcp-oauth-storage-teams-dev"
    plan = copy.deepcopy(compliant)
    patch(
        plan,
        {
            "type": "aws_dynamodb_table",
            "where": {"name": table},
            "set": {"point_in_time_recovery": [{"enabled": "yes"}]},
        },
    )
    found = result(judge(policy, catalog, tmp_path, plan), "dynamodb-pitr-enabled", table)
    assert (found.status, found.error.code) == ("error", "NotABoolean")
    assert "point_in_time_recovery[0].enabled is 'yes', not true or false" in found.message


def _audit_lifecycle(plan: dict[str, Any], days: Any, transition_days: Any = 90) -> None:
    """The audit bucket's archive rule expiring after ``days`` (as the plan writes it)."""
    rule = {
        "id": "archive-and-expire",
        "status": "Enabled",
        "prefix": "",
        "filter": [{"prefix": "", "and": [], "tag": [], "object_size_greater_than": None}],
        "abort_incomplete_multipart_upload": [],
        "expiration": [{"date": None, "days": days, "expired_object_delete_marker": False}],
        "transition": [{"date": None, "days": transition_days, "storage_class": "GLACIER"}],
        "noncurrent_version_expiration": [],
        "noncurrent_version_transition": [],
    }
    patch(
        plan,
        {
            "type": "aws_s3_bucket_lifecycle_configuration",
            "where": {"bucket": "nn-aiconnectors-audit-dev"},
            "set": {"rule": [rule]},
        },
    )


@pytest.mark.parametrize(
    ("days", "transition_days", "said"),
    [
        ("thirty", 90, "expiration[0].days is 'thirty', not a whole number"),
        (365, "ninety", "transition[0].days is 'ninety', not a whole number"),
        (365.5, 90, "expiration[0].days is 365.5, not a whole number"),
        (True, 90, "expiration[0].days is True, not a whole number"),
    ],
)
def test_a_number_that_is_not_a_whole_number_is_an_error(
    policy: Policy,
    catalog: Catalog,
    tmp_path: Path,
    compliant: dict,
    days: Any,
    transition_days: Any,
    said: str,
) -> None:
    """Lifecycle days the plan writes as something else than a whole number: an error
    result naming the resource and the value, and the run ends with its report (was an
    internal error, exit 70)."""
    plan = copy.deepcopy(compliant)
    _audit_lifecycle(plan, days, transition_days)
    bucket = "nn-aiconnectors-audit-dev"
    report = judge(policy, catalog, tmp_path, plan)
    found = result(report, "s3-lifecycle-archive-and-expire", bucket)
    assert (found.status, found.error.code) == ("error", "NotANumber")
    assert "aws_s3_bucket_lifecycle_configuration.audit" in found.message and said in found.message
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert plan_cli(policy, path, tmp_path / "out") == 3
    assert (tmp_path / "out" / "report.json").exists()


def test_digits_in_a_string_are_a_number(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """Some provider versions type sizes and days as strings: "365" reads as 365."""
    plan = copy.deepcopy(compliant)
    _audit_lifecycle(plan, "365", "90")
    bucket = "nn-aiconnectors-audit-dev"
    report = judge(policy, catalog, tmp_path, plan)
    found = result(report, "s3-lifecycle-archive-and-expire", bucket)
    assert found.status == "pass", found.message


def test_a_fact_the_plan_reader_cannot_read_is_an_error(
    policy: Policy, catalog: Catalog, tmp_path: Path, compliant: dict
) -> None:
    """A reader that meets a value of a shape it does not expect (here: raises TypeError)
    makes its fact an error with the exception, as a live check that raises does: never
    a pass, never a run without its report."""

    def broken(state: Any, subject: Any) -> Any:
        raise TypeError("'<' not supported between instances of 'str' and 'int'")

    fact = "dynamodb_table.continuous_backups"
    sources = {**policy.registry.plan.facts, fact: PlanReader(fact=fact, read=broken)}
    registry = replace(policy.registry, plan=replace(policy.registry.plan, facts=sources))
    policy = replace(policy, registry=registry)
    table = "mcp-oauth-storage-teams-dev"
    found = result(judge(policy, catalog, tmp_path, compliant), "dynamodb-pitr-enabled", table)
    assert (found.status, found.error.code) == ("error", "UnreadablePlanValue")
    assert "could not read dynamodb_table.continuous_backups from the plan: TypeError(" in (
        found.message
    )


def test_the_same_plan_twice_counts_once(policy: Policy, tmp_path: Path, compliant: dict) -> None:
    """A file given twice, or a copy of it (the same SHA-256), is judged once: not
    every result an error "planned more than once"."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(compliant))
    copied = tmp_path / "copy.json"
    shutil.copy(path, copied)
    assert [p.path for p in read_plans([path, path, copied])] == [path]
    argv = ["plan", str(path), str(path), str(copied), "--policy", str(policy.path)]
    assert main([*argv, "--env", "dev", "-o", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(report["run"]["sources"]) == 1


def test_a_directory_stands_for_the_plans_in_it(tmp_path: Path, compliant: dict) -> None:
    """Every Terraform plan (*.json) in a directory, sorted; other JSON (a report) is
    skipped; a directory without a plan, or with a broken one, is exit 2."""
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "b.json").write_text(json.dumps(compliant))
    shared = copy.deepcopy(compliant)
    shared["timestamp"] = "2026-11-24T10:00:00Z"
    (plans / "a.json").write_text(json.dumps(shared))
    (plans / "report.json").write_text(json.dumps({"schema_version": "1.1"}))
    (plans / "notes.txt").write_text("not a plan")
    assert [p.path.name for p in read_plans([plans])] == ["a.json", "b.json"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"empty: no Terraform plan \(\*\.json\) in the"):
        read_plans([empty])
    (plans / "c.json").write_text(json.dumps({"format_version": "1.2"}))
    with pytest.raises(InputError, match=r"c\.json: not a Terraform plan"):
        read_plans([plans])


def test_plan_help_describes_plan(capsys: pytest.CaptureFixture) -> None:
    """plan --help explains plan's gate (not run's deadline and not-assessed), and its
    --verbose does not promise AWS API calls it never makes."""
    with pytest.raises(SystemExit) as done:
        main(["plan", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "not_in_plan results and checks a plan cannot judge never gate" in text
    assert "known only after apply, exits 3" in text
    assert "deadline" not in text and "log every AWS API call" not in text


def test_a_standalone_attachment_of_a_resource_managed_elsewhere_is_judged(
    policy: Policy, catalog: Catalog, tmp_path: Path
) -> None:
    """A module that creates only a lifecycle policy keeping 5 images for a repository
    another module manages, and a public access block for a bucket it does not manage
    (each naming its target by a string): the checks of the facts they carry are judged
    (was: not in the plan, then exit 2, "the plan judges nothing"); the targets' other
    facts stay not_in_plan."""
    keep_five = PLAN_DEVIATIONS["ecr-lifecycle-retains-tagged"][0]["set"]["policy"]
    plan = PlanBuilder()
    plan.add(
        "",
        "aws_ecr_lifecycle_policy",
        "teams",
        {"repository": "mcp-teams", "policy": keep_five},
        action="create",
        unknown={"id": True, "registry_id": True},
    )
    audit = "nn-aiconnectors-audit-dev"
    flags = ("block_public_acls", "ignore_public_acls", "block_public_policy")
    plan.add(
        "",
        "aws_s3_bucket_public_access_block",
        "audit",
        {"bucket": audit, **dict.fromkeys(flags, True), "restrict_public_buckets": True},
        action="update",
        before={"bucket": audit, **dict.fromkeys(flags, True), "restrict_public_buckets": False},
    )
    report = judge(policy, catalog, tmp_path, plan.document())
    lifecycle = result(report, "ecr-lifecycle-retains-tagged", "mcp-teams")
    assert lifecycle.status == "fail"
    assert lifecycle.plan.address == "aws_ecr_lifecycle_policy.teams"
    assert lifecycle.plan.changed == ["aws_ecr_lifecycle_policy.teams (create)"]
    assert lifecycle.evidence.facts[0].actions[1:] == [
        "plan-0.json: aws_ecr_lifecycle_policy.teams (create)".replace(
            "plan-0.json", str(tmp_path / "plan-0.json")
        )
    ]
    block = result(report, "s3-public-access-blocked", audit)
    assert (block.status, block.plan.before_status) == ("pass", "fail")
    assert result(report, "ecr-lifecycle-retains-tagged", "mcp-sharepoint").status == "not_in_plan"
    assert result(report, "s3-versioning-enabled", audit).status == "not_in_plan"
    assert result(report, "ecr-image-available", "mcp-teams").status == "not_assessed"
