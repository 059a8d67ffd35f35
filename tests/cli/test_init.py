"""`policycheck init`: the starter files validate as written, drive a real run, and are
never written over."""

import subprocess
from pathlib import Path

import boto3
import yaml

from policycheck.demo.seeding import GIT_IDENTITY, seed
from support.faults import Fault
from support.harness import REPO, MotoServer, Workspace, run_cli


def test_init_writes_files_that_validate(tmp_path: Path) -> None:
    result = run_cli("init", "--region", "eu-west-1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    control = tmp_path / "controls" / "BK.01.yaml"
    [record] = (tmp_path / "dr-evidence" / "restore-drill").iterdir()
    assert (tmp_path / "policy.yaml").is_file() and control.is_file()
    assert "region: eu-west-1" in (tmp_path / "policy.yaml").read_text()
    validated = run_cli("validate", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "1 control(s)" in validated.stdout
    mapped = run_cli("controls", "--framework", "NIST-800-53", cwd=tmp_path)
    assert mapped.returncode == 0 and "CP-9" in mapped.stdout and "BK.01" in mapped.stdout
    drills = run_cli("drills", cwd=tmp_path)
    assert drills.returncode == 0 and record.name[:10] in drills.stdout


def test_init_never_writes_over(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("mine\n")
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "policy.yaml: exists; init writes only into a directory without it"
    )
    assert (tmp_path / "policy.yaml").read_text() == "mine\n"
    assert not (tmp_path / "controls").exists()


def test_init_then_run(moto: MotoServer, tmp_path: Path) -> None:
    """The starter policy audits an account that has its bucket, versioned, with the drill
    record committed: every result passes."""
    assert run_cli("init", "--region", "eu-west-1", cwd=tmp_path).returncode == 0
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "adopt policycheck"]):
        subprocess.run(["git", *GIT_IDENTITY, *args], cwd=tmp_path, check=True)
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(
        Bucket="example-terraform-state-prod",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    s3.put_bucket_versioning(
        Bucket="example-terraform-state-prod", VersioningConfiguration={"Status": "Enabled"}
    )
    result = run_cli("run", "--endpoint-url", moto.url, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS: 2 passed, 0 failed, 0 errors in 2 results" in result.stdout


def test_discover_proposes_env_patterns_to_confirm(
    moto: MotoServer, workspace: Workspace, tmp_path: Path
) -> None:
    """Read-only: what the seeded account has, grouped into {env} patterns (a service by
    its cluster's name), every entry marked to confirm; pasted into a policy it validates
    and runs."""
    seed(workspace.policy, moto.url)
    before = dict(moto.faults.requests)
    here = tmp_path / "here"
    here.mkdir()
    result = run_cli(
        "init", "--discover", "--region", "eu-central-1", "--endpoint-url", moto.url, cwd=here
    )
    assert result.returncode == 0, result.stderr
    assert list(here.iterdir()) == []  # writes nothing
    called = {op for op, n in moto.faults.requests.items() if n > before.get(op, 0)}
    assert called <= {
        "ListBuckets",
        "ListTables",
        "DescribeRepositories",
        "ListClusters",
        "ListServices",
    }, called
    proposal = yaml.safe_load(result.stdout)
    assert sorted(proposal["environments"]) == ["dev", "prod"]
    resources = {r["name"]: r for r in proposal["resources"].values()}
    assert resources["aiconnectors-terraform-state-{env}"]["type"] == "s3_bucket"
    assert resources["mcp-oauth-storage-teams-{env}"]["type"] == "dynamodb_table"
    assert resources["mcp-teams"]["type"] == "ecr_repository"  # one for every environment
    service = resources["mcp-teams-main-svc"]
    assert service["cluster"] == "aiconnectors-{env}-aiconnectors"
    entries = [
        line for line in result.stdout.splitlines() if line.startswith("  ") and ":  #" in line
    ]
    assert entries and all("# confirm: found " in line for line in entries)
    adopted = tmp_path / "adopt"
    adopted.mkdir()
    (adopted / "policy.yaml").write_text("version: 1\n" + result.stdout)
    (adopted / "controls").symlink_to(REPO / "controls")
    run = run_cli("run", "--endpoint-url", moto.url, cwd=adopted)
    # Every proposed resource is found and judged (the checks' default parameters are
    # stricter than the seeded policy's in places: those results fail, none errs).
    assert run.returncode == 1, run.stdout + run.stderr
    assert "0 errors in 30 results" in run.stdout


def test_discover_refused_is_exit_2(moto: MotoServer, tmp_path: Path) -> None:
    moto.faults.add(Fault("ListTables", "AccessDeniedException", 400))
    result = run_cli(
        "init", "--discover", "--region", "eu-central-1", "--endpoint-url", moto.url, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "init --discover: AccessDeniedException" in result.stderr
