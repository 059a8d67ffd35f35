"""End to end: the real CLI, in a subprocess, against a moto server on loopback."""

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import boto3
import jsonschema
import pytest

from policycheck.demo.seeding import Deviation, commit_record, seed
from policycheck.generate.schemas import schema_path
from policycheck.paths import controls_dir_for
from policycheck.plugin.registry import load_registry
from policycheck.policy.controls import load_catalog
from support.faults import Fault
from support.harness import MotoServer, Workspace, audit, new_workspace, run_cli

CONTROL_IDS = ["SC.10.01.01", "SC.10.01.02", "SC.10.02", "SC.10.03.01", "SC.10.03.02"]


def _statuses(report: dict) -> dict[tuple[str, str, str], str]:
    return {
        (r["environment"], r["check_id"], r["resource"]["name"]): r["status"]
        for r in report["results"]
    }


def _results(report: dict, status: str) -> dict[tuple[str, str, str], dict]:
    return {
        (r["environment"], r["check_id"], r["resource"]["name"]): r
        for r in report["results"]
        if r["status"] == status
    }


@pytest.fixture
def compliant_account(
    _moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> tuple[MotoServer, Workspace]:
    """The moto server seeded compliant, without faults, for a test that only reads it,
    and a workspace of the test's own (its output) with the seeded policy and drill
    evidence: seeded once for consecutive such tests."""

    def seeded() -> Workspace:
        space = new_workspace(tmp_path_factory.mktemp("compliant"))
        seed(space.policy, _moto_server.url)
        return space

    space = _moto_server.holding("test_e2e: compliant", seeded)
    return _moto_server, replace(space, directory=tmp_path)


def test_compliant_account_passes_everything(
    compliant_account: tuple[MotoServer, Workspace],
) -> None:
    moto, workspace = compliant_account
    result, report = audit(moto, workspace, subprocess_=True)  # the CLI as a process
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(_statuses(report).values()) == {"pass"}
    assert report["summary"]["results"]["total"] == 146
    assert {r["check_id"] for r in report["results"]} == set(load_registry().checks) - {
        "s3-cross-region-replication"
    }  # not bound by default
    jsonschema.validate(report, json.loads(schema_path("report").read_text()))
    assert [(c["id"], c["status"]) for c in report["controls"]] == [
        (control_id, "pass") for control_id in CONTROL_IDS
    ]
    assert all(c["manual"] for c in report["controls"])
    assert [e["account_id"] for e in report["run"]["environments"]] == ["123456789012"] * 2
    assert "PASS: 146 passed, 0 failed, 0 errors in 146 results" in result.stdout
    markdown = (workspace.directory / "out" / "report.md").read_text()
    assert "## Manual statements" in markdown


def _deviations(workspace: Workspace) -> list[Deviation]:
    """Each bound check's deviation on its own resource where the policy allows, the
    first environment the check is bound in first."""
    policy = workspace.policy
    used: set[str] = set()
    chosen = []
    for check_id in sorted({b.check.id for b in policy.bindings}):
        candidates = [
            (environment, name)
            for b in policy.bindings
            if b.check.id == check_id
            for environment in b.environments or policy.environments
            for group in b.resource_groups
            for name in policy.resource_names(group, environment)
        ]
        environment, name = next((c for c in candidates if c[1] not in used), candidates[0])
        used.add(name)
        chosen.append(Deviation(environment, check_id, name))
    return chosen


def test_every_deviation_fails_exactly_its_result(moto: MotoServer, workspace: Workspace) -> None:
    """Every check's own example of what it catches, all applied at once to a compliant
    platform (each on a resource of its own where possible), fails exactly that check on
    that resource, and nothing else: in process, through the library."""
    from policycheck.demo.seeding import demo_session
    from policycheck.engine.planning import select
    from policycheck.engine.runner import RunOptions, run_audit

    deviations = _deviations(workspace)
    assert len(deviations) == len({b.check.id for b in workspace.policy.bindings}) == 24
    policy = workspace.policy
    seed(policy, moto.url, deviations=tuple(deviations))
    catalog = load_catalog(controls_dir_for(policy.path), policy.registry)
    options = RunOptions(endpoint_url=moto.url, session_factory=demo_session)
    report = run_audit(policy, catalog, select(policy, catalog), options)
    failed = {
        (r.environment, r.check_id, r.resource.name) for r in report.results if r.status != "pass"
    }
    expected = {(d.environment, d.check_id, d.resource_name) for d in deviations}
    # ECR repositories and the platform repository are not per environment: both
    # environments see the same one.
    shared = ("ecr-", "recovery-", "terraform-backend-")
    expected |= {
        ("prod", d.check_id, d.resource_name) for d in deviations if d.check_id.startswith(shared)
    }
    assert failed == expected


def test_cross_region_replication_when_required(moto: MotoServer, workspace: Workspace) -> None:
    workspace.edit(
        lambda d: d["checks"].append(
            {"check": "s3-cross-region-replication", "resources": ["audit_bucket"]}
        )
    )
    seed(
        workspace.policy,
        moto.url,
        deviations=(
            Deviation("prod", "s3-cross-region-replication", "nn-aiconnectors-audit-prod"),
        ),
    )
    result, report = audit(moto, workspace, "--checks", "s3-cross-region-replication")
    assert result.returncode == 1
    statuses = _statuses(report)
    dev = statuses.pop(("dev", "s3-cross-region-replication", "nn-aiconnectors-audit-dev"))
    assert dev == "pass"
    assert statuses == {
        ("prod", "s3-cross-region-replication", "nn-aiconnectors-audit-prod"): "fail"
    }
    [failure] = _results(report, "fail").values()
    assert failure["message"].startswith(
        "nn-aiconnectors-audit-prod-replica-same-region is in the same region"
    )


def test_cross_mcp_access_fails_both_sides(moto: MotoServer, workspace: Workspace) -> None:
    """teams' task role may also reach sharepoint's table: both services fail."""
    seed(workspace.policy, moto.url)
    iam = boto3.client("iam", endpoint_url=moto.url, region_name="eu-central-1")
    iam.put_role_policy(
        RoleName="mcp-teams-main-svc-dev-task",
        PolicyName="too-broad",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "dynamodb:*",
                        "Resource": "arn:aws:dynamodb:*:*:table/mcp-oauth-storage-*",
                    }
                ],
            }
        ),
    )
    result, report = audit(moto, workspace, "--checks", "dynamodb-access-isolated", "--env", "dev")
    assert result.returncode == 1
    failed = _results(report, "fail")
    assert set(failed) == {
        (("dev", "dynamodb-access-isolated", f"mcp-{m}-main-svc"))
        for m in ("sharepoint", "outlook-mcp", "teams", "databricks")
    }
    teams = failed[("dev", "dynamodb-access-isolated", "mcp-teams-main-svc")]
    assert (
        "can reach tables other than mcp-oauth-storage-teams-dev (Allow #1 of "
        "inline:too-broad on arn:aws:dynamodb:*:*:table/mcp-oauth-storage-*)"
    ) in teams["message"]
    sharepoint = failed[("dev", "dynamodb-access-isolated", "mcp-sharepoint-main-svc")]
    assert (
        "task role of mcp-teams-main-svc can reach the table (Allow #1 of inline:too-broad on "
    ) in sharepoint["message"]


def test_deleted_drill_evidence_fails(moto: MotoServer, workspace: Workspace) -> None:
    """A record deleted from git inside the 3-year retention fails the drill's check."""
    seed(workspace.policy, moto.url, environments=["dev"])
    old = commit_record(
        workspace.evidence_dir,
        {
            "drill": "ecs-redeploy",
            "date": "2025-06-01",
            "environment": "dev",
            "outcome": "pass",
            "time_to_recovery_minutes": 9,
            "evidence": ["https://example.invalid/run/1"],
        },
        "old",
    )
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "rm", "-q", str(old)],
        cwd=workspace.evidence_dir,
        check=True,
    )
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "commit",
            "-qm",
            "tidy up",
        ],
        cwd=workspace.evidence_dir,
        check=True,
    )
    result, report = audit(moto, workspace, "--checks", "dr-drill-evidence-fresh")
    assert result.returncode == 1
    [(key, failure)] = _results(report, "fail").items()
    assert key == ("dev", "dr-drill-evidence-fresh", "ecs-redeploy")
    assert "ecs-redeploy/2025-06-01-dev.yaml was deleted on" in failure["message"]
    assert "within the 3-year retention" in failure["message"]


def test_drills_table(moto: MotoServer, workspace: Workspace) -> None:
    seed(workspace.policy, moto.url, environments=["dev"])
    result = run_cli("drills", "--policy", workspace.policy_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| Test type")
    assert "Next due" in lines[0] and "Evidence location" in lines[0]
    ecs = next(line for line in lines if line.startswith("| ECS redeploy drill"))
    assert "| Quarterly " in ecs and "| pass " in ecs and "actions/runs" in ecs


def test_access_denied_is_an_error_for_that_fact_only(
    compliant_account: tuple[MotoServer, Workspace],
) -> None:
    moto, workspace = compliant_account
    moto.faults.add(Fault("GetBucketPolicy", "AccessDenied", 403))
    result, report = audit(moto, workspace)
    assert result.returncode == 3, result.stdout + result.stderr
    errors = _results(report, "error")
    assert set(errors) == {
        ("dev", "s3-policy-denies-delete", "nn-aiconnectors-audit-dev"),
        ("prod", "s3-policy-denies-delete", "nn-aiconnectors-audit-prod"),
        ("dev", "state-writers-restricted", "aiconnectors-terraform-state-dev"),
        ("prod", "state-writers-restricted", "aiconnectors-terraform-state-prod"),
    }
    for r in errors.values():
        assert r["error"]["code"] == "AccessDenied"
        assert r["message"].startswith("could not read s3:GetBucketPolicy: AccessDenied")
    assert {r["status"] for r in report["results"]} == {"pass", "error"}
    assert [c["status"] for c in report["controls"] if c["id"] == "SC.10.02"] == ["error"]
    assert "ERROR: 142 passed, 0 failed, 4 errors" in result.stdout


def test_denied_iam_read_errors_every_isolation_result(
    compliant_account: tuple[MotoServer, Workspace],
) -> None:
    moto, workspace = compliant_account
    moto.faults.add(Fault("ListRolePolicies", "AccessDenied", 403))
    result, report = audit(moto, workspace, "--env", "dev")
    assert result.returncode == 3
    errors = _results(report, "error")
    assert {key[1] for key in errors} == {"dynamodb-access-isolated"}
    assert len(errors) == 4


def test_throttling_is_retried_through(compliant_account: tuple[MotoServer, Workspace]) -> None:
    moto, workspace = compliant_account
    moto.faults.add(Fault("GetBucketVersioning", "SlowDown", 503, times=1))
    moto.faults.add(Fault("DescribeTimeToLive", "ThrottlingException", 400, times=1))
    result, report = audit(moto, workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["summary"]["results"]["pass"] == 146
    assert moto.faults.injected == {"GetBucketVersioning": 1, "DescribeTimeToLive": 1}
    # 4 buckets and 8 tables: each throttled call was retried, none was given up.
    assert moto.faults.requests["GetBucketVersioning"] == 4 + 1
    assert moto.faults.requests["DescribeTimeToLive"] == 8 + 1


def test_exhausted_throttling_is_an_error(compliant_account: tuple[MotoServer, Workspace]) -> None:
    moto, workspace = compliant_account
    moto.faults.add(
        Fault(
            "GetBucketVersioning",
            "SlowDown",
            503,
            path_contains="aiconnectors-terraform-state-prod",
        )
    )
    # AWS_MAX_ATTEMPTS (the SDKs' standard setting) shortens the default 1 + 8 attempts.
    result, report = audit(
        moto,
        workspace,
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
    moto: MotoServer, workspace: Workspace
) -> None:
    seed(workspace.policy, moto.url)
    boto3.client("dynamodb", endpoint_url=moto.url, region_name="eu-central-1").delete_table(
        TableName="mcp-oauth-storage-teams-prod"
    )
    result, report = audit(moto, workspace)
    assert result.returncode == 1
    failed = {key: r["message"] for key, r in _results(report, "fail").items()}
    table = "mcp-oauth-storage-teams-prod"
    assert set(failed) == {
        ("prod", check, table)
        for check in (
            "dynamodb-pitr-enabled",
            "dynamodb-ttl-enabled",
            "dynamodb-encryption-at-rest",
        )
    }
    assert set(failed.values()) == {f"DynamoDB table {table} does not exist; expected it to exist"}


def test_empty_account_fails_closed(moto: MotoServer, workspace: Workspace) -> None:
    workspace.evidence_dir.rmdir()
    result, report = audit(moto, workspace)
    assert result.returncode == 1
    drills = [r for r in report["results"] if r["check_id"] == "dr-drill-evidence-fresh"]
    repository = [
        r
        for r in report["results"]
        if r["resource"]["arn"].startswith("urn:policycheck:repository:")
    ]
    others = [r for r in report["results"] if r not in drills and r not in repository]
    assert {r["status"] for r in others} == {"fail"}
    # No platform repository (the workspace is in no git work tree): an error, never a pass.
    assert {(r["status"], r["error"]["code"]) for r in repository} == {
        ("error", "RepositoryUnavailable")
    }
    # No evidence directory: nothing can be said about the drills.
    assert {(r["status"], r["error"]["code"]) for r in drills} == {
        ("error", "EvidenceDirUnavailable")
    }
    assert all("does not exist" in r["message"] for r in drills)


def test_aws_endpoint_url_environment_variable(
    compliant_account: tuple[MotoServer, Workspace],
) -> None:
    moto, workspace = compliant_account
    result = run_cli(
        "run",
        "--policy",
        workspace.policy_path,
        "--output-dir",
        workspace.directory / "out",
        "--env",
        "dev",
        env={"AWS_ENDPOINT_URL": moto.url},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_controls_filter(compliant_account: tuple[MotoServer, Workspace]) -> None:
    moto, workspace = compliant_account
    result, report = audit(moto, workspace, "--controls", "SC.10.02", "--format", "json")
    assert result.returncode == 0
    statuses = {c["id"]: c["status"] for c in report["controls"]}
    assert statuses == {control: "not_selected" for control in CONTROL_IDS} | {"SC.10.02": "pass"}
    assert {r["check_id"] for r in report["results"]} == {
        "s3-encryption-at-rest",
        "s3-public-access-blocked",
        "s3-policy-denies-delete",
        "dynamodb-encryption-at-rest",
        "dynamodb-access-isolated",
        "terraform-backend-encrypted-and-locked",
        "s3-bucket-in-region",
        "state-writers-restricted",
        "lock-writers-restricted",
        "apply-role-trust-pinned",
    }
    assert report["run"]["selected_controls"] == ["SC.10.02"]
    assert not (workspace.directory / "out" / "report.md").exists()


def test_checks_filter_leaves_other_controls_unassessed(
    compliant_account: tuple[MotoServer, Workspace],
) -> None:
    moto, workspace = compliant_account
    result, report = audit(moto, workspace, "--checks", "dynamodb-pitr-enabled", "--env", "dev")
    assert result.returncode == 0
    assert report["summary"]["results"]["total"] == 4
    controls = {c["id"]: c for c in report["controls"]}
    assert controls["SC.10.01.01"]["status"] == "pass"
    assert controls["SC.10.01.01"]["checks_not_run"] == [
        "s3-versioning-enabled",
        "s3-retains-all-versions",
        "s3-cross-region-replication",
    ]
    # Outside the selection: not selected, never "manual" (nor a pass).
    assert controls["SC.10.02"]["status"] == "not_selected"
    assert controls["SC.10.02"]["reason"] == "dev: none of its checks is in --checks"


def test_account_id_mismatch_exits_2(moto: MotoServer, workspace: Workspace) -> None:
    workspace.edit(lambda d: d["environments"]["dev"].update(account_id="111111111111"))
    result, _ = audit(moto, workspace)
    assert result.returncode == 2
    assert (
        "environment 'dev': credentials are for account 123456789012, but the policy says "
        "environments.dev.account_id is 111111111111"
    ) in result.stderr
    assert not (workspace.directory / "out").exists()


def test_role_is_assumed_per_environment(moto: MotoServer, workspace: Workspace) -> None:
    workspace.edit(
        lambda d: d["environments"]["dev"].update(
            account_id="111111111111",
            role_arn="arn:aws:iam::111111111111:role/policycheck-readonly",
        )
    )
    result, report = audit(moto, workspace, "--env", "dev")
    assert result.returncode == 1, result.stderr  # the other account is empty: all fail closed
    [environment] = report["run"]["environments"]
    assert environment["account_id"] == "111111111111"
    assert ":assumed-role/policycheck-readonly/" in environment["caller_arn"]
    tables = [
        r["resource"]["arn"] for r in report["results"] if r["resource"]["type"] == "dynamodb_table"
    ]
    assert tables and all(":111111111111:table/" in arn for arn in tables)


def test_unreachable_endpoint_exits_2(workspace: Workspace) -> None:
    result, _ = audit("http://127.0.0.1:9", workspace, subprocess_=True)
    assert result.returncode == 2
    assert "policycheck: error: cannot reach AWS: Could not connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_credentials_exit_2(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result, _ = audit("http://127.0.0.1:9", workspace, env={"AWS_EC2_METADATA_DISABLED": "true"})
    assert result.returncode == 2
    assert "no AWS credentials found" in result.stderr


def test_unknown_profile_exits_2(workspace: Workspace) -> None:
    result, _ = audit("http://127.0.0.1:9", workspace, env={"AWS_PROFILE": "no-such-profile"})
    assert result.returncode == 2
    assert "The config profile (no-such-profile) could not be found" in result.stderr
    assert "Traceback" not in result.stderr


def test_verbose_logs_api_calls(compliant_account: tuple[MotoServer, Workspace]) -> None:
    moto, workspace = compliant_account
    result, _ = audit(
        moto,
        workspace,
        "--verbose",
        "--env",
        "dev",
        "--checks",
        "s3-public-access-blocked",
        subprocess_=True,
    )
    assert result.returncode == 0
    assert "call s3.GetPublicAccessBlock" in result.stderr
    assert "call s3control.GetPublicAccessBlock" in result.stderr


def test_demo_runs_from_any_directory(tmp_path: Path) -> None:
    result = run_cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert [c["id"] for c in report["controls"]] == CONTROL_IDS
    assert {c["status"] for c in report["controls"]} <= {"pass", "fail"}  # all assessed
    for control_id in CONTROL_IDS:
        assert control_id in result.stdout
    failed = {
        (r["environment"], r["check_id"], r["resource"]["name"])
        for r in report["results"]
        if r["status"] == "fail"
    }
    assert ("dev", "s3-versioning-enabled", "aiconnectors-terraform-state-dev") in failed
    assert ("dev", "dr-drill-evidence-fresh", "secret-rotation") in failed
    # The banner counts and lists what the report has (the ECR repository two
    # environments share deviates in both: one deviation, two failures).
    assert f"{len(failed)} deliberate violation(s), as the report has them" in result.stderr
    for environment, check_id, name in failed:
        assert f"  - {environment}: {check_id} on {name}\n" in result.stderr
