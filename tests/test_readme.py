"""The README's examples run as written (AWS calls go to a seeded moto server)."""

import os
import re
import shlex
import shutil
import subprocess
import sys

import boto3

from conftest import REPO, MotoServer, Workspace, run_cli
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


def test_readme_commands_in_order(moto: MotoServer, workspace: Workspace) -> None:
    """Run where a user's policy.yaml and controls/ are, against a compliant account, one
    after another (render, merge and diff read what earlier examples wrote); plan.json is
    a compliant plan of dev (terraform show -json)."""
    seed(workspace.policy, moto.url)
    shutil.copy(PLAN_FIXTURE, workspace.directory / "plan.json")
    boto3.client(  # the evidence archive's bucket (examples/archive-bucket/)
        "s3",
        endpoint_url=moto.url,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(
        Bucket="acme-dr-evidence",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
        ObjectLockEnabledForBucket=True,
    )
    for command in COMMANDS:
        result = run_cli(
            *shlex.split(command),
            cwd=workspace.directory,
            env={"AWS_ENDPOINT_URL": moto.url},
            subprocess_=True,  # as a user runs them
        )
        assert result.returncode == 0, (command, result.stdout + result.stderr)


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
