"""merge (reports made per environment) and diff (drift between nights)."""

import json
from pathlib import Path

import pytest

from policycheck.demo.seeding import Deviation, seed
from support.harness import MotoServer, Workspace, audit, run_cli


def _run(moto: MotoServer, workspace: Workspace, out: Path, *args: str) -> dict:
    result, report = audit(moto, workspace, *args, out=out)
    assert result.returncode in (0, 1), result.stderr
    return report


@pytest.fixture
def broken(moto: MotoServer, workspace: Workspace) -> Workspace:
    seed(
        workspace.policy,
        moto.url,
        deviations=(Deviation("prod", "s3-versioning-enabled", "nn-aiconnectors-audit-prod"),),
    )
    return workspace


def test_merge_equals_one_run_over_both(
    moto: MotoServer, broken: Workspace, tmp_path: Path
) -> None:
    both = _run(moto, broken, tmp_path / "both")
    _run(moto, broken, tmp_path / "dev", "--env", "dev")
    _run(moto, broken, tmp_path / "prod", "--env", "prod")
    result = run_cli(
        "merge",
        tmp_path / "prod" / "report.json",
        tmp_path / "dev" / "report.json",
        "-o",
        tmp_path / "merged",
    )
    assert result.returncode == 0, result.stderr
    merged = json.loads((tmp_path / "merged" / "report.json").read_text())

    def verdicts(report: dict) -> list:
        return [
            (r["environment"], r["check_id"], r["resource"]["arn"], r["status"])
            for r in report["results"]
        ]

    assert verdicts(merged) == verdicts(both)
    assert merged["summary"] == both["summary"]
    assert [(c["id"], c["status"]) for c in merged["controls"]] == [
        (c["id"], c["status"]) for c in both["controls"]
    ]
    assert sorted(e["name"] for e in merged["run"]["environments"]) == ["dev", "prod"]
    markdown = (tmp_path / "merged" / "report.md").read_text()
    assert "## Controls by environment" in markdown
    assert (tmp_path / "merged" / "SHA256SUMS").exists()


def test_merge_refuses_other_policy_versions(
    moto: MotoServer, broken: Workspace, tmp_path: Path
) -> None:
    _run(moto, broken, tmp_path / "dev", "--env", "dev")
    broken.edit(lambda d: d["checks"][0].update(resources=["state_bucket"]))
    _run(moto, broken, tmp_path / "prod", "--env", "prod")
    args = [tmp_path / "dev" / "report.json", tmp_path / "prod" / "report.json"]
    refused = run_cli("merge", *args, "-o", tmp_path / "merged")
    assert refused.returncode == 2
    assert "made from other policy or control files" in refused.stderr
    assert "policy" in refused.stderr and "--allow-mixed" in refused.stderr
    assert run_cli("merge", *args, "-o", tmp_path / "m", "--allow-mixed").returncode == 0


def test_merge_refuses_the_same_environment_twice(
    moto: MotoServer, broken: Workspace, tmp_path: Path
) -> None:
    _run(moto, broken, tmp_path / "dev", "--env", "dev")
    report = tmp_path / "dev" / "report.json"
    result = run_cli("merge", report, report, "-o", tmp_path / "m")
    assert (
        result.returncode == 2
        and "environment dev (123456789012, eu-central-1) is in" in result.stderr
    )


def test_diff_lists_drift_and_fails_on_regressions(
    moto: MotoServer, workspace: Workspace, tmp_path: Path
) -> None:
    seed(
        workspace.policy,
        moto.url,
        deviations=(Deviation("dev", "s3-versioning-enabled", "nn-aiconnectors-audit-dev"),),
    )
    old = _run(moto, workspace, tmp_path / "old", "--env", "dev")
    assert old["summary"]["results"]["fail"] == 1
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="eu-central-1")
    s3.put_bucket_versioning(
        Bucket="nn-aiconnectors-audit-dev", VersioningConfiguration={"Status": "Enabled"}
    )  # fixed
    s3.put_bucket_versioning(
        Bucket="aiconnectors-terraform-state-dev", VersioningConfiguration={"Status": "Suspended"}
    )  # regressed
    _run(moto, workspace, tmp_path / "new", "--env", "dev")
    paths = [tmp_path / "old" / "report.json", tmp_path / "new" / "report.json"]

    result = run_cli("diff", *paths, "--format", "json")
    assert result.returncode == 0
    changes = json.loads(result.stdout)
    assert [(c["check_id"], c["resource"]) for c in changes["new_failures"]] == [
        ("s3-versioning-enabled", "arn:aws:s3:::aiconnectors-terraform-state-dev")
    ]
    assert [(c["resource"], c["status"]) for c in changes["resolved_failures"]] == [
        ("arn:aws:s3:::nn-aiconnectors-audit-dev", "pass")
    ]
    assert changes["still_failing"] == [] and changes["new_errors"] == []

    gate = run_cli("diff", *paths, "--fail-on-new")
    assert gate.returncode == 1
    assert "## New failures (1)" in gate.stdout and "## Resolved failures (1)" in gate.stdout
    assert run_cli("diff", paths[1], paths[1], "--fail-on-new").returncode == 0


def test_shards_cover_every_environment_once(workspace: Workspace) -> None:
    from policycheck.engine.locations import configured_accounts, in_shard, shard_of

    workspace.edit(
        lambda d: d["environments"].update(
            {f"acct-{i:02d}": {"region": "eu-central-1"} for i in range(20)}
        )
    )
    policy = workspace.policy
    plans = configured_accounts(policy, list(policy.environments))
    # 22 environment names over 4 shards: every shard gets some
    shards = [[p.environment for p in in_shard(plans, index, 4)] for index in range(1, 5)]
    flat = [env for shard in shards for env in shard]
    assert sorted(flat) == sorted(policy.environments)  # each exactly once
    # Pinned: a shard assignment must not change between runs, machines or releases.
    assert [shard_of(f"acct-{i:02d}", 4) for i in range(5)] == [1, 4, 4, 1, 3]
    assert [shard_of(name, 2) for name in ("dev", "prod")] == [2, 2]
    # An account known before the run (configured, or listed by --org) is its own unit.
    assert [shard_of(f"prod/{n:012d}", 4) for n in range(4)] == [1, 2, 2, 2]


def test_shard_option_and_merge(moto: MotoServer, workspace: Workspace, tmp_path: Path) -> None:
    seed(workspace.policy, moto.url)
    reports = []
    for index in (1, 2):
        out = tmp_path / f"shard-{index}"
        result = audit(moto, workspace, "--shard", f"{index}/2", out=out)[0]
        if result.returncode == 2:
            assert "no environment or account in this shard" in result.stderr
            continue
        assert result.returncode == 0, result.stderr
        reports.append(out / "report.json")
    merged = tmp_path / "merged"
    assert run_cli("merge", *reports, "-o", merged).returncode == 0
    environments = json.loads((merged / "report.json").read_text())["run"]["environments"]
    assert sorted(e["name"] for e in environments) == ["dev", "prod"]
    assert run_cli("run", "--shard", "3/2").returncode == 2
