"""The README's examples run as written (AWS calls go to a seeded moto server)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, MotoServer, run_cli
from policycheck.demo import seed
from policycheck.policy import Policy

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


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command(command: str, moto: MotoServer, policy: Policy, tmp_path: Path) -> None:
    seed(policy, moto.url)
    result = run_cli(*shlex.split(command), cwd=tmp_path, env={"AWS_ENDPOINT_URL": moto.url})
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_library_example(moto: MotoServer, policy: Policy) -> None:
    seed(policy, moto.url, environments=["dev"])
    result = subprocess.run(
        [sys.executable, "-c", LIBRARY_EXAMPLE],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": moto.url},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pass"
