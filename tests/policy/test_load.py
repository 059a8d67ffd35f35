import argparse
import shutil
from pathlib import Path

import pytest

from policycheck.errors import InputError
from policycheck.policy.load import Policy, load_policy
from support.harness import POLICY_PATH, REPO, run_cli


def test_shipped_policy_binds_every_promise(policy: Policy) -> None:
    bound = {(b.check.id, group) for b in policy.bindings for group in b.resource_groups}
    assert bound == {
        ("s3-versioning-enabled", "state_bucket"),
        ("s3-versioning-enabled", "audit_bucket"),
        ("s3-encryption-at-rest", "state_bucket"),
        ("s3-encryption-at-rest", "audit_bucket"),
        ("s3-public-access-blocked", "state_bucket"),
        ("s3-public-access-blocked", "audit_bucket"),
        ("s3-lifecycle-archive-and-expire", "audit_bucket"),
        ("s3-policy-denies-delete", "audit_bucket"),
        ("s3-retains-all-versions", "state_bucket"),
        ("dynamodb-pitr-enabled", "token_tables"),
        ("dynamodb-ttl-enabled", "token_tables"),
        ("ecr-lifecycle-retains-tagged", "ecr_repositories"),
        ("ecr-image-available", "ecr_repositories"),
        ("firehose-delivers-to-audit-bucket", "audit_bucket"),
        ("dynamodb-encryption-at-rest", "token_tables"),
        ("dynamodb-access-isolated", "ecs_services"),
        ("ecs-service-stable", "ecs_services"),
        ("ssm-parameter-secure", "client_secrets"),
        ("terraform-lock-table-ready", "lock_table"),
        ("state-writers-restricted", "state_bucket"),
        ("lock-writers-restricted", "lock_table"),
        ("apply-role-trust-pinned", "apply_role"),
        ("dr-drill-evidence-fresh", "ecs_redeploy_drill"),
        ("dr-drill-evidence-fresh", "dynamodb_recovery_test"),
        ("dr-drill-evidence-fresh", "environment_rebuild_drill"),
        ("dr-drill-evidence-fresh", "secret_rotation_drill"),
        ("terraform-backend-encrypted-and-locked", "platform_infra"),
        ("s3-bucket-in-region", "state_bucket"),
        ("s3-bucket-in-region", "audit_bucket"),
        ("recovery-path-present", "render_scripts"),
        ("recovery-path-present", "mcp_sources"),
        ("recovery-path-present", "initial_modules"),
        ("recovery-path-present", "main_modules"),
        ("recovery-path-present", "shared_module"),
        ("recovery-workflow-runnable", "deploy_workflows"),
        ("recovery-workflow-runnable", "infra_apply_workflow"),
    }
    drills = {
        b.resource_groups[0]: b for b in policy.bindings if b.check.id == "dr-drill-evidence-fresh"
    }
    assert {g: (b.params.frequency, b.params.rto_minutes) for g, b in drills.items()} == {
        "ecs_redeploy_drill": ("quarterly", 15),
        "dynamodb_recovery_test": ("annually", None),
        "environment_rebuild_drill": ("annually", None),
        "secret_rotation_drill": ("annually", 30),
    }
    assert all(b.environments == ("dev",) for b in drills.values())
    state_encryption = next(
        b
        for b in policy.bindings
        if b.check.id == "s3-encryption-at-rest" and b.resource_groups == ("state_bucket",)
    )
    assert state_encryption.params.allowed_algorithms == ["AES256"]


def test_resource_names_follow_the_seed(policy: Policy) -> None:
    assert policy.resource_names("token_tables", "prod") == [
        "mcp-oauth-storage-sharepoint-prod",
        "mcp-oauth-storage-outlook-mcp-prod",
        "mcp-oauth-storage-teams-prod",
        "mcp-oauth-storage-databricks-prod",
    ]
    assert policy.resource_names("state_bucket", "dev") == ["aiconnectors-terraform-state-dev"]
    assert policy.resource_names("ecr_repositories", "dev")[0] == "mcp-sharepoint"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of the shipped policy and controls to break."""
    shutil.copy(POLICY_PATH, tmp_path / "policy.yaml")
    shutil.copytree(REPO / "controls", tmp_path / "controls")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


BROKEN = [
    (
        "params: {min_recovery_days: 35}",
        "params: {min_recovery_days: thirty}",
        "checks[2].params.min_recovery_days: Input should be a valid integer",
    ),
    (
        "params: {min_recovery_days: 35}",
        "params: {min_recovery_days: 36}",
        "checks[2].params.min_recovery_days: Input should be less than or equal to 35",
    ),
    (
        "params: {min_recovery_days: 35}",
        "params: {min_recovery_dayz: 35}",
        "checks[2].params.min_recovery_dayz: unknown key",
    ),
    (
        "- check: s3-retains-all-versions",
        "- check: s3-retains-everything",
        "checks[1].check: unknown check 's3-retains-everything'",
    ),
    (
        "resources: [state_bucket]\n  - check: dynamodb-pitr-enabled",
        "resources: [state_buckit]\n  - check: dynamodb-pitr-enabled",
        "checks[1].resources[0]: unknown resource 'state_buckit'",
    ),
    (
        "resources: [token_tables]\n    params: {min_recovery_days: 35}",
        "resources: [audit_bucket]\n    params: {min_recovery_days: 35}",
        "checks[2].resources[0]: dynamodb-pitr-enabled applies to DynamoDB tables, but "
        "'audit_bucket' is a S3 bucket",
    ),
    (
        "region: eu-central-1\n    # account_id",
        "region: 42\n    # account_id",
        "environments.dev.region: Input should be a valid string",
    ),
    (
        "name: mcp-{mcp}",
        "name: mcp-{service}",
        "resources.ecr_repositories.name: Value error, unknown placeholder {service}",
    ),
    ("version: 1", "version: 2", "version: Input should be 1"),
    (
        "region: eu-central-1\n    # account_id",
        "region: eu-central-1\n    regions: [eu-west-1]\n    # account_id",
        "environments.dev: Value error, give either `region` or `regions`",
    ),
    (
        "region: eu-central-1\n    # account_id",
        "regions: [eu-central-1, EU]\n    # account_id",
        "environments.dev.regions: Value error, 'EU' is not an AWS region name",
    ),
    (
        "region: eu-central-1\n    # account_id",
        "region: eu-central-1\n    account_id: '111111111111'\n"
        "    accounts: [{account_id: '222222222222'}]\n    # account_id",
        "environments.dev: Value error, give either `accounts` or `account_id`/`role_arn`",
    ),
    (
        "region: eu-central-1\n    # account_id",
        "regions: [eu-central-1, eu-west-1]\n    # account_id",
        "resources.state_bucket.name: a bucket lives in one region, but "
        "'aiconnectors-terraform-state-{env}' names the same bucket in dev's regions "
        "eu-central-1, eu-west-1; use {region} in the name or limit the group with `regions`",
    ),
    (
        "type: s3_bucket\n    name: aiconnectors",
        "type: s3_bucket\n    regions: [us-east-1]\n    name: aiconnectors",
        "resources.state_bucket.regions[0]: 'us-east-1' is not a region of any environment",
    ),
    (
        "type: s3_bucket\n    name: aiconnectors",
        "type: s3_bukket\n    name: aiconnectors",
        "resources.state_bucket.type: unknown resource type 's3_bukket'; known: dr_drill, "
        "dynamodb_table, ecr_repository, ecs_service, github_workflow, iam_role, repository_path, "
        "s3_bucket, ssm_parameter, terraform_tree",
    ),
    (
        "transition_days: 90, expiration_days: 365",
        "transition_days: 400, expiration_days: 365",
        "checks[3].params: Value error, transition_days must be smaller than expiration_days",
    ),
    (
        "  - check: s3-policy-denies-delete\n    resources: [audit_bucket]",
        "  - check: s3-policy-denies-delete\n    resources: [audit_bucket, audit_bucket]",
        "checks[10].resources[1]: s3-policy-denies-delete is bound to 'audit_bucket' already",
    ),
    (
        "mcps: [sharepoint, outlook-mcp, teams, databricks]",
        "mcps: []",
        "resources.token_tables.name: uses {mcp} but `mcps` is empty",
    ),
    *[
        (
            "  prod:\n    region",
            f"  {written}:\n    region",
            f"environments: Value error, {shown} is not an environment name: letters, digits, "
            "- and _, starting with a letter or digit, at most 32 characters",
        )
        for written, shown in [
            ("\"=cmd|' /C calc'!A0\"", "\"=cmd|' /C calc'!A0\""),
            ("../../outside", "'../../outside'"),
            ('"pr\\nod"', "'pr\\nod'"),
            ("-prod", "'-prod'"),
            ("p" * 33, repr("p" * 33)),
            ("2026", "2026"),
        ]
    ],
    *[
        (
            "region: eu-central-1\n    # account_id",
            f"region: eu-central-1\n    {key}: {written}\n    # account_id",
            f"environments.dev.{where}: Value error, an account id is 12 digits in quotes; YAML "
            f"read this one as the number {number} (a leading 0 as octal): write it in quotes",
        )
        for key, written, where, number in [
            ("account_id", "123456789012", "account_id", 123456789012),
            ("account_id", "012345670123", "account_id", 0o12345670123),
            ("accounts", "[{account_id: 012345670123}]", "accounts[0].account_id", 0o12345670123),
        ]
    ],
]


def test_an_environment_name_of_32_characters_is_accepted(workdir: Path) -> None:
    _edit(workdir / "policy.yaml", "  prod:\n    region", "  " + "P_-9" * 8 + ":\n    region")
    assert "P_-9" * 8 in load_policy(workdir / "policy.yaml").environments


@pytest.mark.parametrize(("old", "new", "message"), BROKEN, ids=[m[:40] for *_, m in BROKEN])
def test_invalid_policy_names_file_and_key(workdir: Path, old: str, new: str, message: str) -> None:
    policy_file = workdir / "policy.yaml"
    _edit(policy_file, old, new)
    with pytest.raises(InputError) as raised:
        load_policy(policy_file)
    assert f"{policy_file}: {message}" in str(raised.value)


def test_invalid_yaml_names_the_line(workdir: Path) -> None:
    policy_file = workdir / "policy.yaml"
    _edit(policy_file, "mcps: [sharepoint,", "mcps: [sharepoint,,: {")
    with pytest.raises(InputError, match=rf"{policy_file}:7:\d+: invalid YAML"):
        load_policy(policy_file)


def test_non_mapping_policy(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="expected a mapping at the top level"):
        load_policy(tmp_path / "policy.yaml")


def test_unreadable_policy(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_sha256_is_of_the_file_bytes(policy: Policy) -> None:
    import hashlib

    assert policy.sha256 == hashlib.sha256(POLICY_PATH.read_bytes()).hexdigest()


# --- the CLI contract: exit 2, one message naming file and key, no traceback ------------


def test_cli_validate_ok() -> None:
    result = run_cli("validate", "--policy", POLICY_PATH)
    assert result.returncode == 0, result.stderr
    assert "valid — 2 environment(s), 20 resource group(s), 33 check binding(s), 146 result(s)" in (
        result.stdout
    )


def test_cli_validate_bad_param_exits_2(workdir: Path) -> None:
    _edit(workdir / "policy.yaml", "min_tagged_images: 10", "min_tagged_images: ten")
    result = run_cli("validate", "--policy", workdir / "policy.yaml")
    assert result.returncode == 2
    assert "checks[4].params.min_tagged_images: Input should be a valid integer" in result.stderr
    assert str(workdir / "policy.yaml") in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["run"], ["validate"], ["controls"], ["demo"]])
def test_cli_invalid_yaml_exits_2_without_report(workdir: Path, command: list[str]) -> None:
    (workdir / "policy.yaml").write_text("version: 1\nenvironments: [\n")
    result = run_cli(*command, "--policy", workdir / "policy.yaml", cwd=workdir)
    assert result.returncode == 2
    assert "invalid YAML" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "reports").exists()


def test_cli_unknown_environment_exits_2(workdir: Path) -> None:
    result = run_cli("run", "--policy", workdir / "policy.yaml", "--env", "staging", cwd=workdir)
    assert result.returncode == 2
    assert "--env: unknown 'staging'; environments: dev, prod" in result.stderr
    assert not (workdir / "reports").exists()


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--checks", "s3-nope", "--checks: unknown 's3-nope'"),
        ("--controls", "SC.99", "--controls: unknown 'SC.99'"),
    ],
)
def test_cli_unknown_ids_exit_2(workdir: Path, option: str, value: str, said: str) -> None:
    result = run_cli("run", "--policy", workdir / "policy.yaml", option, value, cwd=workdir)
    assert result.returncode == 2
    assert said in result.stderr


def test_cli_bad_option_value_exits_2() -> None:
    result = run_cli("run", "--format", "pdf")
    assert result.returncode == 2
    assert "unknown format 'pdf'" in result.stderr


def test_help_explains_every_option() -> None:
    result = run_cli("run", "--help", subprocess_=True)
    assert result.returncode == 0
    for option in (
        "--policy",
        "--env",
        "--checks",
        "--controls",
        "--output-dir",
        "--format",
        "--max-workers",
        "--endpoint-url",
        "--verbose",
        "--org",
        "--role-name",
        "--max-per-service",
        "--processes",
        "--shard",
    ):
        assert option in result.stdout
    assert "exit codes (" in result.stdout
    assert "\\" not in result.stdout  # no escape printed as text
    for option in ("--fail-on", "--min-severity"):
        assert option in result.stdout


def test_report_with_several_errors_is_one_line(tmp_path: Path) -> None:
    """Not a line per pydantic error: the file, that it is no report, the first problem."""
    report = tmp_path / "report.json"
    report.write_text('{"run": 1, "summary": 2, "controls": 3, "results": 4}')
    result = run_cli("render", report, "--output-dir", tmp_path / "out")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "\\n" not in result.stderr, result.stderr
    assert f"{report}: not a policycheck report (run: " in lines[0]


#: The commands that call no AWS API (they read files only).
OFFLINE_COMMANDS = (
    "render",
    "history",
    "diff",
    "merge",
    "controls",
    "schema",
    "drills",
    "environments",
    "validate",
    "iam-policy",
    "plan",
)


def test_help_of_offline_commands_claims_no_aws_call() -> None:
    """--verbose logs AWS API calls only where there are some; every positional argument
    says what it is, and every command what it does."""
    from policycheck.cli import build_parser

    parser = build_parser()
    commands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    for name, command in commands.choices.items():
        verbose = next(a for a in command._actions if "--verbose" in a.option_strings)
        assert ("AWS API call" in (verbose.help or "")) == (name not in OFFLINE_COMMANDS), name
        for action in command._actions:
            if not action.option_strings:
                assert action.help, f"{name} {action.dest}: no help"
        assert command.description, f"{name}: no description"
    assert "plan" in commands.choices["render"]._actions[-1].help


@pytest.mark.parametrize(
    ("broken", "said"), [(50, None), (51, "1 more problem"), (2000, "1,950 more problems")]
)
def test_validation_errors_are_capped(workdir: Path, broken: int, said: str | None) -> None:
    """A 769 KB policy printed 190,000 lines (35 MB) on stderr: the first 50, then a count."""
    checks = "".join(
        f"  - check: no-such-check-{i}\n    resources: [audit_bucket]\n" for i in range(broken)
    )
    _edit(workdir / "policy.yaml", "checks:\n", "checks:\n" + checks)
    result = run_cli("validate", "--policy", workdir / "policy.yaml")
    assert result.returncode == 2
    lines = result.stderr.strip().split("\n")
    assert "no-such-check-0'" in lines[0] and "no-such-check-49'" in lines[49]
    if said is None:
        assert len(lines) == 50
    else:
        assert len(lines) == 51 and lines[50] == f"... and {said}"
