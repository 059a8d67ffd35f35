"""The examples of the README and docs/ run as written, against `policycheck demo
--serve` (the library example against a seeded moto server); the generated parts are
current; the README stays a page a newcomer can scan."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import boto3

from policycheck.demo.seeding import seed
from policycheck.generate.docs import DOC_PAGES
from support.harness import REPO, MotoServer, Workspace, run_cli, served_demo
from support.planbuilder import FIXTURE as PLAN_FIXTURE

PAGES = {page: (REPO / page).read_text() for page in DOC_PAGES}
DOCS = "\n".join(PAGES.values())
COMMANDS = [
    line.removeprefix("$ policycheck ")
    for block in re.findall(r"```console\n(.*?)```", DOCS, re.S)
    for line in block.splitlines()
    if line.startswith("$ policycheck ")
]
[LIBRARY_EXAMPLE] = re.findall(r"```python\n(.*?)```", DOCS, re.S)
#: What a newcomer scans: the README, with the reference in docs/.
README_LIMIT_BYTES = 12 * 1024


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
        for command in COMMANDS:  # the CLI's main in this process (demo: a process)
            result = run_cli(*shlex.split(command), cwd=directory, env=env)
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


def test_generated_sections_are_current() -> None:
    """`make docs` wrote the command table, the check table and the IAM actions, wherever
    they are; a command, a check, a `passes` text, a control's sentence or a fact's
    action changed since makes this fail."""
    from policycheck.generate.docs import current, placed
    from policycheck.plugin.registry import load_registry
    from policycheck.policy.controls import load_catalog

    registry = load_registry()
    catalog = load_catalog(REPO / "controls", registry)
    assert set(placed(REPO).values()) == {"docs/usage.md", "docs/checks.md"}
    for page, text in PAGES.items():
        assert current(text, registry, catalog) == text, f"{page} is stale: run `make docs`"
    checks = PAGES["docs/checks.md"]
    table = checks[checks.index("## Controls and checks") : checks.index("### Recovery testing")]
    for check_id in registry.checks:
        assert f"| `{check_id}` |" in table, check_id


def test_docs_list_every_aws_action() -> None:
    from policycheck.plugin.registry import load_registry

    checks = PAGES["docs/checks.md"]
    permissions = checks[checks.index("## Permissions") :]
    for spec in load_registry().facts.values():
        for action in spec.actions:
            assert action.startswith("local:") or f"`{action}`" in permissions, action


def test_readme_is_a_page_to_scan() -> None:
    """What it is and why, the two commands, the workflow with archive and upload,
    adopting it, and links: the reference is in docs/ (it was 85 KB)."""
    readme = PAGES["README.md"]
    assert len(readme.encode()) <= README_LIMIT_BYTES
    assert "make demo" in readme and "make test" in readme
    assert "policycheck archive" in readme and "actions/upload-artifact" in readme
    for page in DOC_PAGES[1:]:
        assert f"]({page})" in readme, page


def test_links_between_pages_resolve() -> None:
    """Every relative link of the README and docs/ names a file that exists, and a
    heading of it where it names one."""

    def anchors(text: str) -> set[str]:
        titles = re.findall(r"^#{1,4} (.+)$", text, re.M)
        return {re.sub(r"[^\w\- ]", "", t.strip().lower()).replace(" ", "-") for t in titles}

    for page, text in PAGES.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            file = (REPO / page).parent / path if path else REPO / page
            assert file.resolve().exists(), (page, target)
            if anchor and file.suffix == ".md":
                assert anchor in anchors(file.read_text()), (page, target)
