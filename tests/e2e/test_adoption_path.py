"""What a newcomer meets first: which policy a command judges, durations with units, and
argument errors in one line."""

import argparse
import json
from pathlib import Path

import pytest

from policycheck.cli import SUBCOMMANDS, build_parser
from support.harness import Workspace, run_cli, served_demo


@pytest.mark.parametrize("command", [["run", "--env", "dev"], ["plan", "plan.json"], ["validate"]])
def test_no_policy_here_is_refused(tmp_path: Path, command: list[str]) -> None:
    """Outside a directory with a policy.yaml, without --policy, nothing is judged (it
    was the shipped policy, silently)."""
    result = run_cli(*command, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "policycheck: error: no policy.yaml here: --policy FILE, or `policycheck init`"
    )


@pytest.mark.parametrize("where", ["cwd", "--policy"])
def test_the_first_line_names_the_policy_and_its_sha256(
    workspace: Workspace, tmp_path: Path, where: str
) -> None:
    import hashlib

    args = ["--policy", str(workspace.policy_path)] if where == "--policy" else []
    result = run_cli("validate", *args, cwd=workspace.directory if where == "cwd" else tmp_path)
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256(workspace.policy_path.read_bytes()).hexdigest()
    first = result.stdout.splitlines()[0]
    assert first == f"policy: {workspace.policy_path.resolve()} (sha256 {digest})"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--deadline", "25"], "argument --deadline: '25' has no unit; write 25m or 25s"),
        (["--deadline", "25x"], "argument --deadline: '25x' is not a duration"),
        (["--format", "pdf"], "argument --format: unknown format 'pdf'"),
        (["--max-workers", "0"], "argument --max-workers: must be at least 1"),
    ],
)
def test_an_argument_error_is_one_line_and_where_to_read_more(
    workspace: Workspace, args: list[str], message: str
) -> None:
    result = run_cli("run", *args, cwd=workspace.directory)
    assert result.returncode == 2
    error, see = result.stderr.splitlines()
    assert error.startswith(f"policycheck run: error: {message}")
    assert see == "see `policycheck run --help`"


def test_every_subcommand_is_in_the_command_table() -> None:
    from support.harness import REPO

    usage = (REPO / "docs" / "usage.md").read_text()
    table = usage[usage.index("<!-- command-table") : usage.index("<!-- /command-table")]
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(commands.choices) == len(SUBCOMMANDS) == table.count("\n| `")
    for name in commands.choices:
        assert f"| `{name}" in table, name  # `environments` was missing


def test_demo_serve_is_the_demo_account_until_ctrl_c(tmp_path: Path) -> None:
    """`demo --serve`: the demo's seeding (its deliberate violations, ECS tasks running) on
    loopback, usable from another process with the lines it prints; Ctrl-C ends it."""
    import boto3

    with served_demo(tmp_path) as (env, directory):
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
        assert (directory / "policy.yaml").is_file() and (directory / "controls").is_dir()
        ecs = boto3.client(
            "ecs",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        services = [
            service
            for cluster in ecs.list_clusters()["clusterArns"]
            for service in ecs.describe_services(
                cluster=cluster, services=ecs.list_services(cluster=cluster)["serviceArns"]
            )["services"]
        ]
        assert services and all(s["runningCount"] >= 1 for s in services)
        result = run_cli("run", "--env", "dev", cwd=directory, env=env, subprocess_=True)
        assert result.returncode == 1  # the deliberate violations, as `demo` has them
        assert result.stdout.startswith(f"policy: {directory.resolve() / 'policy.yaml'} ")
        report = json.loads((directory / "reports" / "report.json").read_text())
        failed = {
            (r["check_id"], r["resource"]["name"])
            for r in report["results"]
            if r["status"] == "fail"
        }
        assert ("s3-versioning-enabled", "aiconnectors-terraform-state-dev") in failed
        assert report["run"]["simulated"] is False  # a run against it is a run, not the demo
    assert not directory.exists()
