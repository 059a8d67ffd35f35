"""End to end: the real CLI, in a subprocess, against a moto server on loopback."""

import json
import time
from pathlib import Path

import boto3
import jsonschema
import pytest
import yaml

from conftest import POLICY_PATH, MotoServer, run_cli
from faults import Fault
from policycheck.demo import VIOLATIONS, Deviation, seed
from policycheck.policy import Policy
from policycheck.schemas import schema_path


def _audit(
    endpoint: MotoServer | str,
    out: Path,
    *args: str | Path,
    policy: Path = POLICY_PATH,
    env: dict[str, str] | None = None,
):
    """Run the CLI against an endpoint; return its result and report (None on exit 2)."""
    url = endpoint if isinstance(endpoint, str) else endpoint.url
    result = run_cli(
        "run", "--policy", policy, "--endpoint-url", url, "--output-dir", out, *args, env=env
    )
    report = json.loads((out / "report.json").read_text()) if result.returncode != 2 else None
    return result, report


def _statuses(report: dict) -> dict[tuple[str, str, str], str]:
    return {
        (r["environment"], r["check_id"], r["resource"]["name"]): r["status"]
        for r in report["results"]
    }


def test_compliant_account_passes_everything(
    moto: MotoServer, policy: Policy, tmp_path: Path
) -> None:
    seed(policy, moto.url)
    result, report = _audit(moto, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(_statuses(report).values()) == {"pass"}
    assert report["summary"]["results"]["total"] == 50
    jsonschema.validate(report, json.loads(schema_path("report").read_text()))
    assert [(c["id"], c["status"]) for c in report["controls"]] == [
        ("SC.10.01.01", "pass"),
        ("SC.10.01.02", "pass"),
        ("SC.10.02", "pass"),
        ("SC.10.03.01", "pass"),
        ("SC.10.03.02", "not_assessed"),
    ]
    assert [e["account_id"] for e in report["run"]["environments"]] == ["123456789012"] * 2
    assert "SC.10.03.02" in result.stdout and "NOT ASSESSED" in result.stdout
    assert "PASS: 50 passed, 0 failed, 0 errors in 50 results" in result.stdout
    assert (tmp_path / "report.md").read_text().startswith("# policycheck report")


def _first_bound(policy: Policy, check_id: str) -> str:
    binding = next(b for b in policy.bindings if b.check.id == check_id)
    return policy.resource_names(binding.resource_groups[0], "dev")[0]


@pytest.mark.parametrize("check_id", sorted(VIOLATIONS))
def test_each_deviation_fails_exactly_that_result(
    moto: MotoServer, policy: Policy, tmp_path: Path, check_id: str
) -> None:
    resource = _first_bound(policy, check_id)
    seed(policy, moto.url, deviations=(Deviation("dev", check_id, resource),))
    result, report = _audit(moto, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = {key for key, status in _statuses(report).items() if status != "pass"}
    # ECR repositories are not per environment: both environments see the same one.
    environments = ("dev", "prod") if check_id.startswith("ecr-") else ("dev",)
    assert failed == {(env, check_id, resource) for env in environments}


def test_access_denied_is_an_error_for_that_fact_only(
    moto: MotoServer, policy: Policy, tmp_path: Path
) -> None:
    seed(policy, moto.url)
    moto.faults.add(Fault("GetBucketPolicy", "AccessDenied", 403))
    result, report = _audit(moto, tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    errors = {
        key: r
        for key, r in zip(_statuses(report), report["results"], strict=True)
        if r["status"] == "error"
    }
    assert set(errors) == {
        ("dev", "s3-policy-denies-delete", "nn-aiconnectors-audit-dev"),
        ("prod", "s3-policy-denies-delete", "nn-aiconnectors-audit-prod"),
    }
    for r in errors.values():
        assert r["error"]["code"] == "AccessDenied"
        assert r["message"].startswith("could not read s3:GetBucketPolicy: AccessDenied")
    assert {r["status"] for r in report["results"]} == {"pass", "error"}
    assert [c["status"] for c in report["controls"] if c["id"] == "SC.10.02"] == ["error"]
    assert "ERROR: 48 passed, 0 failed, 2 errors" in result.stdout


def test_throttling_is_retried_through(moto: MotoServer, policy: Policy, tmp_path: Path) -> None:
    seed(policy, moto.url)
    moto.faults.add(Fault("GetBucketVersioning", "SlowDown", 503, times=2))
    moto.faults.add(Fault("DescribeTimeToLive", "ThrottlingException", 400, times=2))
    result, report = _audit(moto, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["summary"]["results"]["pass"] == 50
    assert moto.faults.injected == {"GetBucketVersioning": 2, "DescribeTimeToLive": 2}
    # 4 buckets and 8 tables: each throttled call was retried, none was given up.
    assert moto.faults.requests["GetBucketVersioning"] == 4 + 2
    assert moto.faults.requests["DescribeTimeToLive"] == 8 + 2


def test_exhausted_throttling_is_an_error(moto: MotoServer, policy: Policy, tmp_path: Path) -> None:
    seed(policy, moto.url)
    moto.faults.add(
        Fault(
            "GetBucketVersioning",
            "SlowDown",
            503,
            path_contains="aiconnectors-terraform-state-prod",
        )
    )
    # AWS_MAX_ATTEMPTS (the SDKs' standard setting) shortens the default 1 + 8 attempts.
    result, report = _audit(
        moto,
        tmp_path,
        "--env",
        "prod",
        "--checks",
        "s3-versioning-enabled",
        env={"AWS_MAX_ATTEMPTS": "3"},
    )
    assert result.returncode == 3
    by_resource = {r["resource"]["name"]: r for r in report["results"]}
    throttled = by_resource["aiconnectors-terraform-state-prod"]
    assert throttled["status"] == "error"
    assert throttled["error"]["code"] == "SlowDown"
    assert by_resource["nn-aiconnectors-audit-prod"]["status"] == "pass"
    assert moto.faults.injected["GetBucketVersioning"] == 3


def test_missing_resource_fails_every_check_bound_to_it(
    moto: MotoServer, policy: Policy, tmp_path: Path
) -> None:
    seed(policy, moto.url)
    boto3.client("dynamodb", endpoint_url=moto.url, region_name="eu-central-1").delete_table(
        TableName="mcp-oauth-storage-teams-prod"
    )
    result, report = _audit(moto, tmp_path)
    assert result.returncode == 1
    failed = {
        k: r["message"]
        for k, r in zip(_statuses(report), report["results"], strict=True)
        if r["status"] == "fail"
    }
    assert set(failed) == {
        ("prod", "dynamodb-pitr-enabled", "mcp-oauth-storage-teams-prod"),
        ("prod", "dynamodb-ttl-enabled", "mcp-oauth-storage-teams-prod"),
    }
    assert set(failed.values()) == {
        "DynamoDB table mcp-oauth-storage-teams-prod does not exist; expected it to exist"
    }


def test_empty_account_fails_closed(moto: MotoServer, tmp_path: Path) -> None:
    result, report = _audit(moto, tmp_path)
    assert result.returncode == 1
    assert {r["status"] for r in report["results"]} == {"fail"}


def test_aws_endpoint_url_environment_variable(
    moto: MotoServer, policy: Policy, tmp_path: Path
) -> None:
    seed(policy, moto.url)
    result = run_cli(
        "run",
        "--policy",
        POLICY_PATH,
        "--output-dir",
        tmp_path,
        "--env",
        "dev",
        env={"AWS_ENDPOINT_URL": moto.url},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_controls_filter(moto: MotoServer, policy: Policy, tmp_path: Path) -> None:
    seed(policy, moto.url)
    result, report = _audit(moto, tmp_path, "--controls", "SC.10.02", "--format", "json")
    assert result.returncode == 0
    assert [c["id"] for c in report["controls"]] == ["SC.10.02"]
    assert {r["check_id"] for r in report["results"]} == {
        "s3-encryption-at-rest",
        "s3-public-access-blocked",
        "s3-policy-denies-delete",
    }
    assert report["run"]["selected_controls"] == ["SC.10.02"]
    assert not (tmp_path / "report.md").exists()


def test_checks_filter_leaves_other_controls_unassessed(
    moto: MotoServer, policy: Policy, tmp_path: Path
) -> None:
    seed(policy, moto.url)
    result, report = _audit(moto, tmp_path, "--checks", "dynamodb-pitr-enabled", "--env", "dev")
    assert result.returncode == 0
    assert report["summary"]["results"]["total"] == 4
    controls = {c["id"]: c for c in report["controls"]}
    assert controls["SC.10.01.01"]["status"] == "pass"
    assert controls["SC.10.01.01"]["checks_not_run"] == [
        "s3-versioning-enabled",
        "s3-retains-all-versions",
    ]
    assert controls["SC.10.02"]["status"] == "not_assessed"


def _policy_with(tmp_path: Path, **dev: str) -> Path:
    """A copy of the shipped policy whose dev environment has extra settings."""
    document = yaml.safe_load(POLICY_PATH.read_text())
    document["environments"]["dev"].update(dev)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(document))
    (tmp_path / "controls").symlink_to(POLICY_PATH.parent / "controls")
    return policy_file


def test_account_id_mismatch_exits_2(moto: MotoServer, tmp_path: Path) -> None:
    policy_file = _policy_with(tmp_path, account_id="111111111111")
    result, _ = _audit(moto, tmp_path / "out", policy=policy_file)
    assert result.returncode == 2
    assert (
        "environment 'dev': credentials are for account 123456789012, but the policy says "
        "environments.dev.account_id is 111111111111"
    ) in result.stderr
    assert not (tmp_path / "out").exists()


def test_role_is_assumed_per_environment(moto: MotoServer, tmp_path: Path) -> None:
    policy_file = _policy_with(
        tmp_path,
        account_id="111111111111",
        role_arn="arn:aws:iam::111111111111:role/policycheck-readonly",
    )
    result, report = _audit(moto, tmp_path / "out", "--env", "dev", policy=policy_file)
    assert result.returncode == 1, result.stderr  # the other account is empty: all fail closed
    [environment] = report["run"]["environments"]
    assert environment["account_id"] == "111111111111"
    assert ":assumed-role/policycheck-readonly/" in environment["caller_arn"]
    tables = [
        r["resource"]["arn"] for r in report["results"] if r["resource"]["type"] == "dynamodb_table"
    ]
    assert tables and all(":111111111111:table/" in arn for arn in tables)


def test_unreachable_endpoint_exits_2_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    result, _ = _audit("http://127.0.0.1:9", tmp_path)
    assert result.returncode == 2
    assert "environment 'dev': cannot reach AWS" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30


def test_missing_credentials_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result, _ = _audit("http://127.0.0.1:9", tmp_path, env={"AWS_EC2_METADATA_DISABLED": "true"})
    assert result.returncode == 2
    assert "no AWS credentials found" in result.stderr


def test_verbose_logs_api_calls(moto: MotoServer, policy: Policy, tmp_path: Path) -> None:
    seed(policy, moto.url)
    result, _ = _audit(
        moto, tmp_path, "--verbose", "--env", "dev", "--checks", "s3-public-access-blocked"
    )
    assert result.returncode == 0
    assert "call s3.GetPublicAccessBlock" in result.stderr
    assert "call s3control.GetPublicAccessBlock" in result.stderr


def test_demo_runs_from_any_directory(tmp_path: Path) -> None:
    result = run_cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for control_id in ("SC.10.01.01", "SC.10.01.02", "SC.10.02", "SC.10.03.01", "SC.10.03.02"):
        assert control_id in result.stdout
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["summary"]["status"] == "fail"
    failed = {
        (r["environment"], r["check_id"], r["resource"]["name"])
        for r in report["results"]
        if r["status"] == "fail"
    }
    assert ("dev", "s3-versioning-enabled", "aiconnectors-terraform-state-dev") in failed
    assert "deliberate violations" in result.stderr
