"""Checks of your own without a fork: `plugins:` in the policy loads modules (or a
distribution's `policycheck.checks` entry points) that declare facts and checks as the
built-ins do; the worked example (examples/plugin/acme_checks.py) end to end."""

import json
from pathlib import Path

import pytest
import yaml

from conftest import REPO, MotoServer, Workspace, audit, run_cli
from policycheck.demo.seeding import Deviation, seed

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
    workspace.edit(lambda d: d.update(plugins={"modules": [name]}))
    result = run_cli("validate", "--policy", workspace.policy_path)
    assert result.returncode == 2
    assert result.stderr.startswith("policycheck: error: ")
    assert message in result.stderr and result.stderr[-1] == "\n" and result.stderr.count("\n") == 1
