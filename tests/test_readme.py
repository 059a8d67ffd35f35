"""The README's examples run as written, against `policycheck demo --serve` (the library
example against a seeded moto server)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import boto3

from conftest import REPO, MotoServer, Workspace, run_cli, served_demo
from planbuilder import FIXTURE as PLAN_FIXTURE
from policycheck.demo.seeding import seed

README = (REPO / "README.md").read_text()
COMMANDS = [
    line.removeprefix("$ policycheck ")
    for block in re.findall(r"```console\n(.*?)```", README, re.S)
    for line in block.splitlines()
    if line.startswith("$ policycheck ")
]
[LIBRARY_EXAMPLE] = re.findall(r"```python\n(.*?)```", README, re.S)


def test_examples_found() -> None:
    assert len(COMMANDS) >= 6


def test_readme_commands_in_order(tmp_path: Path) -> None:
    """Run, as the README says, where `policycheck demo --serve --compliant` points: its
    directory (the demo's policy.yaml, controls/ and drill evidence) and its account, one
    command after another (render, merge and diff read what earlier examples wrote);
    plan.json is a compliant plan of dev (terraform show -json); the archive's bucket is
    made as examples/archive-bucket/ makes it."""
    with served_demo(tmp_path, "--compliant") as (env, directory):
        shutil.copy(PLAN_FIXTURE, directory / "plan.json")
        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        ).create_bucket(
            Bucket="acme-dr-evidence",
            CreateBucketConfiguration={"LocationConstraint": env["AWS_DEFAULT_REGION"]},
            ObjectLockEnabledForBucket=True,
        )
        for command in COMMANDS:
            result = run_cli(*shlex.split(command), cwd=directory, env=env, subprocess_=True)
            assert result.returncode == 0, (command, result.stdout + result.stderr)
    assert not directory.exists()  # removed with the account


def test_readme_library_example(moto: MotoServer, workspace: Workspace) -> None:
    seed(workspace.policy, moto.url, environments=["dev"])
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY_EXAMPLE],
        cwd=workspace.directory,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": moto.url},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pass"


def test_readme_generated_sections_are_current() -> None:
    """`make docs` wrote the check table and the IAM actions; a check, a `passes` text, a
    control's sentence or a fact's action changed since makes this fail."""
    from policycheck.controls import load_catalog
    from policycheck.generated import readme
    from policycheck.plugins import load_registry

    registry = load_registry()
    current = readme(README, registry, load_catalog(REPO / "controls", registry))
    assert current == README, "README is stale: run `make docs`"
    table = README[README.index("## Controls and checks") : README.index("### Recovery testing")]
    for check_id in registry.checks:
        assert f"| `{check_id}` |" in table, check_id


def test_readme_lists_every_aws_action() -> None:
    from policycheck.plugins import load_registry

    permissions = README[README.index("## Permissions") : README.index("## How it works")]
    for spec in load_registry().facts.values():
        for action in spec.actions:
            assert action.startswith("local:") or f"`{action}`" in permissions, action
