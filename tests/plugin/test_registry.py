"""Checks of your own without a fork: `plugins:` in the policy loads modules (or a
distribution's `policycheck.checks` entry points) that declare facts and checks as the
built-ins do; the worked example (examples/plugin/acme_checks.py) end to end. The registry
refuses an inconsistent set, a fact without a plan source among them."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from policycheck.demo.seeding import Deviation, seed
from policycheck.plugin import registry as registry_module
from policycheck.plugin.plans import PlanGap, PlannedType, PlanReader
from policycheck.plugin.registry import PLUGIN_PACKAGES, PluginError, build_registry, load_registry
from policycheck.sources.aws.s3 import S3_BUCKET, VERSIONING
from support.harness import REPO, MotoServer, Workspace, audit, run_cli
from support.planbuilder import FIXTURE

EXAMPLE = REPO / "examples" / "plugin"


def _adopt(workspace: Workspace, plugins: dict) -> None:
    """The workspace's policy loading ``plugins`` and binding the example's check to the
    audit buckets; SC.10.02 (backup security) evidences it."""

    def change(document: dict) -> None:
        document["plugins"] = plugins
        document["checks"].append({"check": "s3-owner-tagged", "resources": ["audit_bucket"]})

    workspace.edit(change)
    controls = workspace.directory / "controls"
    controls.unlink()
    controls.mkdir()
    for source in (REPO / "controls").glob("*.yaml"):
        control = yaml.safe_load(source.read_text())
        if control["id"] == "SC.10.02":
            control["checks"].append(
                {"id": "s3-owner-tagged", "verifies": "Backups name who answers for them."}
            )
        (controls / source.name).write_text(yaml.safe_dump(control, sort_keys=False))


@pytest.fixture
def example_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))


def test_worked_example_end_to_end(
    moto: MotoServer, workspace: Workspace, example_importable: None, tmp_path: Path
) -> None:
    """Seeded from the plugin's own examples (compliant, and its deviation on one bucket),
    audited: the plugin's check passes and fails where it should; its fact's action is in
    the generated IAM policy."""
    _adopt(workspace, {"modules": ["acme_checks"]})
    deviated = Deviation("prod", "s3-owner-tagged", "nn-aiconnectors-audit-prod")
    seed(workspace.policy, moto.url, deviations=(deviated,))
    result, report = audit(moto, workspace)
    assert report is not None and result.returncode == 1, result.stderr
    owner = {
        (r["environment"], r["resource"]["name"]): (r["status"], r["message"])
        for r in report["results"]
        if r["check_id"] == "s3-owner-tagged"
    }
    assert owner == {
        ("dev", "nn-aiconnectors-audit-dev"): ("pass", "owner tag is 'platform-team'"),
        ("prod", "nn-aiconnectors-audit-prod"): (
            "fail",
            "no owner tag; expected a non-empty owner tag",
        ),
    }
    [control] = [c for c in report["controls"] if c["id"] == "SC.10.02"]
    assert control["status"] == "fail"
    iam = run_cli("iam-policy", "--policy", workspace.policy_path)
    assert "s3:GetBucketTagging" in json.loads(iam.stdout)["Statement"][0]["Action"]


def test_worked_example_in_the_demo(workspace: Workspace, tmp_path: Path) -> None:
    """`demo` seeds the plugin's resources from its compliant examples (a process of its
    own, the module on PYTHONPATH)."""
    _adopt(workspace, {"modules": ["acme_checks"]})
    result = run_cli(
        "demo",
        "--policy",
        workspace.policy_path,
        "--output-dir",
        tmp_path / "demo",
        env={"PYTHONPATH": str(EXAMPLE)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    statuses = {r["status"] for r in report["results"] if r["check_id"] == "s3-owner-tagged"}
    assert statuses == {"pass"}


def test_entry_point_group(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution offering the module in `policycheck.checks`."""
    site = tmp_path / "site"
    info = site / "acme_policycheck-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-policycheck\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[policycheck.checks]\nacme = acme_checks\n")
    (site / "acme_checks.py").write_text((EXAMPLE / "acme_checks.py").read_text())
    monkeypatch.syspath_prepend(str(site))
    _adopt(workspace, {"entry_points": True})
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "plugins: cannot import acme_missing: No module named 'acme_missing'"),
        (
            "from checks.s3 import versioning_enabled as again\n"
            "from dataclasses import replace\n"
            "CLASH = replace(again, title='mine')\n",
            "plugins: ",
        ),
        (
            "from policycheck.plugin.plans import PlanGap\n"
            "MINE = PlanGap('s3_bucket.versioning', 'a plan of mine cannot show it')\n",
            "plugins: the plan source of fact 's3_bucket.versioning' is declared twice",
        ),
    ],
)
def test_a_bad_plugin_is_exit_2(
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str | None,
    message: str,
) -> None:
    name = "acme_missing" if source is None else "acme_clash"
    if source is not None:
        (tmp_path / f"{name}.py").write_text(source.replace("checks.s3", "policycheck.checks.s3"))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, name, raising=False)  # another case's, imported
    workspace.edit(lambda d: d.update(plugins={"modules": [name]}))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert result.stderr.startswith("policycheck: error: ")
    assert message in result.stderr and result.stderr[-1] == "\n" and result.stderr.count("\n") == 1


# --- how a plan run gets each fact -------------------------------------------------------


def _read_nothing(state: object, subject: object) -> None:
    return None


def _build(*sources: PlanReader | PlanGap, planned: tuple[PlannedType, ...] = ()) -> None:
    """A registry of S3 buckets and their versioning, with these plan sources."""
    build_registry([S3_BUCKET], [VERSIONING], [], plan_sources=sources, planned_types=planned)


def test_a_fact_without_a_plan_source_is_refused() -> None:
    """Each fact says how a plan run gets it: read from a plan, or why a plan cannot show
    it; a fact saying neither is a plugin error naming it."""
    _build(PlanReader(fact=VERSIONING.name, read=_read_nothing))  # consistent
    with pytest.raises(PluginError, match=r"fact s3_bucket\.versioning: no plan source declared"):
        _build()


def test_a_fact_with_two_plan_sources_is_refused() -> None:
    reader = PlanReader(fact=VERSIONING.name, read=_read_nothing)
    gap = PlanGap(fact=VERSIONING.name, why="a plan cannot show it")
    with pytest.raises(
        PluginError, match=r"the plan source of fact 's3_bucket\.versioning' is declared twice"
    ):
        _build(reader, gap)


def test_a_plan_source_of_an_unknown_fact_is_refused() -> None:
    reader = PlanReader(fact=VERSIONING.name, read=_read_nothing)
    unknown = PlanReader(fact="s3_bucket.colour", read=_read_nothing)
    with pytest.raises(PluginError, match=r"PlanReader of unknown fact 's3_bucket\.colour'"):
        _build(reader, unknown)
    planned = PlannedType(resource_type="s3_vault", tf_type="aws_s3_vault", name_attr="name")
    with pytest.raises(PluginError, match=r"PlannedType of unknown resource type 's3_vault'"):
        _build(reader, planned=(planned,))


def test_a_plugin_fact_without_a_plan_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fact of a policy's plugin that says nothing of plans is not judged on one, and
    the reason names the plugin (a plugin written for live runs keeps working); the same
    fact in a built-in package is refused."""
    (tmp_path / "acme_plain.py").write_text(
        "from policycheck.plugin.facts import FactSpec\n"
        "from policycheck.sources.aws.s3 import S3_BUCKET\n"
        "TAGS = FactSpec('acme.s3_bucket.tags', S3_BUCKET, ('s3:GetBucketTagging',), print)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    load = load_registry.__wrapped__  # uncached: the packages are monkeypatched below
    plugin = load((*PLUGIN_PACKAGES, "acme_plain")).plan.facts["acme.s3_bucket.tags"]
    assert plugin == PlanGap(
        "acme.s3_bucket.tags",
        "the plugin acme_plain declares no plan reader for acme.s3_bucket.tags",
    )
    monkeypatch.setattr(registry_module, "PLUGIN_PACKAGES", (*PLUGIN_PACKAGES, "acme_plain"))
    with pytest.raises(PluginError, match=r"fact acme\.s3_bucket\.tags: no plan source declared"):
        load((*PLUGIN_PACKAGES, "acme_plain"))


def test_worked_example_on_a_plan(
    workspace: Workspace, example_importable: None, tmp_path: Path
) -> None:
    """`policycheck plan` with the worked example: its check is not_assessed, saying the
    plugin declares no plan reader; the built-in checks are judged as without it."""
    _adopt(workspace, {"modules": ["acme_checks"]})
    out = tmp_path / "out"
    run_cli("plan", FIXTURE, "--env", "dev", "--policy", workspace.policy_path, "-o", out)
    report = json.loads((out / "report.json").read_text())
    owner = {
        (r["resource"]["name"], r["status"], r["message"])
        for r in report["results"]
        if r["check_id"] == "s3-owner-tagged"
    }
    assert owner == {
        (
            "nn-aiconnectors-audit-dev",
            "not_assessed",
            "the plugin acme_checks declares no plan reader for acme.s3_bucket.tags",
        )
    }
    pitr = {r["status"] for r in report["results"] if r["check_id"] == "dynamodb-pitr-enabled"}
    assert pitr == {"pass"}
