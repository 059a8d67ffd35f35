"""The GitHub Action (action.yml) and the workflows (.github/workflows/*.yml), run step by
step.

actionlint proves the YAML is well-formed; these tests prove the steps work. ``GitHub``
below runs the jobs of a workflow in the order of their ``needs``, a job per matrix entry,
and each step in order: every ``run:`` script, the workflows' and the composite action's,
in bash as GitHub starts it (``bash -e``, or ``bash --noprofile --norc -eo pipefail`` for
``shell: bash``), with the files and variables GitHub gives a step (GITHUB_OUTPUT,
GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, RUNNER_TEMP,
GITHUB_ACTION_PATH, ...), and its ``${{ }}`` expressions evaluated by a small evaluator
that refuses any context, property of a strict context, function or construct it does
not know. AWS is moto on loopback (AWS_ENDPOINT_URL).

``uses:`` steps that need GitHub run as stand-ins doing the same to the file system and
the environment: checkout clones a prepared git repository (shallow unless fetch-depth
is 0); setup-python records the version; configure-aws-credentials exports a region and
dummy keys, and refuses a job without ``id-token: write`` or without a role; artifacts go
to a local store by name, per run; upload-sarif is recorded, or refused like GitHub
refuses it (no ``security-events: write``, code scanning not enabled); attest checks its
permissions and the checksums file. A ``uses:`` without a stand-in fails the test, and so
does an input a stand-in does not know. ``gh`` is a stand-in serving earlier runs'
artifacts.

The action's install step runs as written, but ``python3 -m venv`` makes a venv whose pip
records what it is asked to install instead of downloading, and whose ``policycheck`` is
the test venv's: the tests assert the commands (hash-pinned lock, --require-hashes, the
action's own checkout, nothing by a bare name); ``make action-install-check`` runs them
for real. GitHub itself (OIDC tokens, permissions enforced, the artifact and
code-scanning services, the runner image) is what these tests cannot prove.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from policycheck.demo.seeding import Deviation, seed
from policycheck.generate.docs import DOC_PAGES
from policycheck.policy.load import load_policy
from support.actions import (
    STAND_INS,
    WORKFLOWS,
    GitHub,
    HarnessError,
    Job,
    Strict,
    condition,
    evaluate,
    git,
    interpolate,
)
from support.harness import REPO, MotoServer
from support.planbuilder import deviated, platform_plan

ACTION = REPO / "action.yml"
DOCS = [(REPO / page).read_text() for page in DOC_PAGES]
#: Where adopters find the action, and a repository that adopts it.
POLICYCHECK = "OWNER/policycheck"
ADOPTER = "acme/platform"
ARCHIVE_REGION = "eu-west-1"
PROD_DEVIATION = Deviation("prod", "s3-versioning-enabled", "nn-aiconnectors-audit-prod")


#: The runs against the simulated account are long: two groups of them, each on one xdist
#: worker (tests/conftest.py), that two workers run side by side (each builds the world).
NIGHTLY_RUNS = pytest.mark.xdist_group("workflows-nightly")
ADOPTER_RUNS = pytest.mark.xdist_group("workflows-adopter")


def role(environment: str) -> str:
    return f"arn:aws:iam::123456789012:role/policycheck-readonly-{environment}"


# --- The world the workflows run in ------------------------------------------------------


def readme_section(title: str) -> str:
    """The section of the README or of a page of docs/ with this title."""
    [text] = [t for t in DOCS if f"## {title}\n" in t]
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


ADOPT = readme_section("Adopt it in your repository")
[BEFORE_APPLY_WORKFLOW] = re.findall(r"```yaml\n(.*?)```", readme_section("Before apply"), re.S)
RELEASE_GATE_CALL = re.findall(r"```yaml\n(.*?)```", readme_section("In GitHub Actions"), re.S)[0]
[ADOPTER_WORKFLOW] = re.findall(r"```yaml\n(.*?)```", ADOPT, re.S)
ROLE_COMMANDS, VARIABLE_COMMAND = re.findall(
    r"```sh\n(.*?)```", readme_section("The role, once per account"), re.S
)


@dataclass
class World:
    """The repositories (this project's, with drill evidence, and an adopter's holding only
    policy.yaml, controls/, drill evidence and the README's workflow) and the state of the
    simulated AWS account."""

    root: Path
    moto: MotoServer
    policycheck: Path
    adopter: Path
    state: tuple[Deviation, ...] | None = None
    #: The evidence archive's buckets (one per simulated GitHub, whose run ids restart).
    archives: list[str] = field(default_factory=list)

    def fleet(self, *deviations: Deviation) -> None:
        """Seed moto: compliant but for ``deviations`` (only when it holds something else)."""
        if self.state == deviations:
            return
        self.moto.empty()
        scratch = self.root / f"seed-{len(list(self.root.glob('seed-*')))}"
        scratch.mkdir()
        shutil.copy(REPO / "policy.yaml", scratch)
        shutil.copytree(REPO / "controls", scratch / "controls")
        seed(load_policy(scratch / "policy.yaml"), self.moto.url, deviations=deviations)
        for bucket in self.archives:
            self._create_archive(bucket)
        self.state = deviations

    def _create_archive(self, bucket: str) -> None:
        """A bucket with Object Lock, as examples/archive-bucket/ makes it."""
        boto3.client(
            "s3",
            endpoint_url=self.moto.url,
            region_name=ARCHIVE_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": ARCHIVE_REGION},
            ObjectLockEnabledForBucket=True,
        )

    def archived(self, bucket: str) -> dict[str, str | None]:
        """Each object of the archive, and its Object Lock mode."""
        s3 = boto3.client(
            "s3",
            endpoint_url=self.moto.url,
            region_name=ARCHIVE_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {
            o["Key"]: s3.head_object(Bucket=bucket, Key=o["Key"]).get("ObjectLockMode")
            for page in pages
            for o in page.get("Contents", [])
        }

    @property
    def sha(self) -> str:
        return git(self.policycheck, "rev-parse", "HEAD")

    def github(self, root: Path, **options: Any) -> GitHub:
        """A simulated GitHub, whose repository variables name an evidence archive of its
        own (POLICYCHECK_ARCHIVE_*)."""
        bucket = f"evidence-{len(self.archives)}"
        self._create_archive(bucket)
        self.archives.append(bucket)
        options["vars"] = {
            "POLICYCHECK_ARCHIVE_BUCKET": bucket,
            "POLICYCHECK_ARCHIVE_REGION": ARCHIVE_REGION,
            "POLICYCHECK_ARCHIVE_ROLE_ARN": "arn:aws:iam::123456789012:role/policycheck-archive",
            **options.get("vars", {}),
        }
        options.setdefault("repository", ADOPTER)
        repos = {POLICYCHECK: self.policycheck, ADOPTER: self.adopter, **options.pop("repos", {})}
        return GitHub(root, repos=repos, endpoint=self.moto.url, **options)


def _repository(directory: Path, message: str) -> Path:
    git(directory, "init", "--quiet", "--initial-branch", "main")
    git(directory, "add", "-A")
    git(directory, "commit", "--quiet", "-m", message)
    return directory


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _moto_server: MotoServer) -> World:
    root = tmp_path_factory.mktemp("github")
    world = World(root, _moto_server, root / "policycheck", root / "adopter")
    world.fleet()
    evidence = root / "seed-0" / "docs" / "compliance" / "dr-test-evidence"
    # This project as GitHub holds it (tracked and new files), with drill evidence.
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        if name.split("/")[0] not in ("tests", "bench") and (REPO / name).is_file():
            (world.policycheck / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, world.policycheck / name)
    # An adopter: policy.yaml, controls/, drill evidence and the README's workflow.
    world.adopter.mkdir()
    shutil.copy(REPO / "policy.yaml", world.adopter)
    shutil.copytree(REPO / "controls", world.adopter / "controls")
    (world.adopter / ".github" / "workflows").mkdir(parents=True)
    (world.adopter / ".github" / "workflows" / "policycheck.yml").write_text(ADOPTER_WORKFLOW)
    for repository in (world.policycheck, world.adopter):
        shutil.copytree(
            evidence,
            repository / "docs" / "compliance" / "dr-test-evidence",
            ignore=shutil.ignore_patterns(".git"),
            dirs_exist_ok=True,
        )
        # The platform layout the seeding committed (Terragrunt, the recovery plan's
        # files and workflows): the repository checks judge the checked-out repository.
        for layout in ("infra", "connectors", ".github/workflows"):
            shutil.copytree(root / "seed-0" / layout, repository / layout, dirs_exist_ok=True)
        _repository(repository, "as GitHub holds it")
    return world


def adopter_workflow(world: World, **replacements: str) -> str:
    """The README's workflow as an adopter commits it: OWNER/policycheck@COMMIT_SHA pinned
    to the commit of policycheck under test; ``replacements`` change it for a test."""
    workflow = ADOPTER_WORKFLOW.replace("COMMIT_SHA", world.sha)
    for old, new in replacements.items():
        assert old in workflow, old
        workflow = workflow.replace(old, new)
    return workflow


def assert_installed_from_the_lock(gh: GitHub, action_dirs: set[Path]) -> None:
    """Every install the action made: the lock with hashes, then its own checkout."""
    installs = [e for e in gh.pip_installs() if e["args"][0] == "install"]
    assert installs and len(installs) == 2 * len({e["venv"] for e in installs})
    resolved = {str(d.resolve()) for d in action_dirs}
    for lock_install, source_install in zip(installs[::2], installs[1::2], strict=True):
        args = lock_install["args"]
        assert {"--require-hashes", "--only-binary", ":all:", "-r"} <= set(args), args
        lock = Path(args[args.index("-r") + 1])
        assert lock.name == "action.txt" and str(lock.parent.parent.resolve()) in resolved, args
        args = source_install["args"]
        assert {"--no-deps", "--no-build-isolation", "--no-index"} <= set(args), args
        assert str(Path(args[-1]).resolve()) in resolved, args
        assert sum(not a.startswith("-") for a in args[1:]) == 1, args  # no name besides it


def assert_archived(
    world: World, gh: GitHub, scope: str, report: dict[str, Any], run_id: str
) -> None:
    """The report set is in the archive under nightly/SCOPE/YYYY/MM/DD/RUN-ID/, as its
    SHA256SUMS lists it, with Object Lock retention."""
    day = datetime.fromisoformat(report["run"]["started_at"]).astimezone(UTC)
    folder = f"nightly/{scope}/{day:%Y/%m/%d}/{run_id}/"
    archived = world.archived(gh.vars["POLICYCHECK_ARCHIVE_BUCKET"])
    kept = {k.removeprefix(folder): mode for k, mode in archived.items() if k.startswith(folder)}
    assert {"report.json", "SHA256SUMS"} <= set(kept), archived
    assert set(kept.values()) == {"COMPLIANCE"}, kept  # --retain 3y


def report_of(job: Job, directory: str) -> dict[str, Any]:
    return json.loads((job.workspace / directory / "report.json").read_text())


# --- Static checks --------------------------------------------------------------------------


def all_workflows() -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(WORKFLOWS.glob("*.yml"))}


def all_scripts() -> list[tuple[str, str]]:
    """Every run: script of the workflows, the action and the README's workflow."""
    scripts = [
        (f"action.yml {s.get('name')}", s["run"])
        for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"]
        if "run" in s
    ]
    for name, document in all_workflows().items():
        for job_name, job in document["jobs"].items():
            scripts += [(f"{name} {job_name}", s["run"]) for s in job["steps"] if "run" in s]
    return scripts


def test_expressions_are_evaluated_or_refused() -> None:
    contexts = {
        "inputs": Strict({"fail-on": "error", "environments": ""}),
        "vars": {"POLICYCHECK_ATTEST": "TRUE"},
        "needs": Strict(
            e=Strict(outputs={"matrix": '[{"name": "dev", "region": "eu-central-1"}]'})
        ),
        "matrix": Strict(environment={"name": "prod", "region": "eu-west-1"}),
    }
    assert evaluate("fromJSON(needs.e.outputs.matrix)[0].region", contexts) == "eu-central-1"
    assert evaluate("vars.POLICYCHECK_ATTEST == 'true'", contexts) is True  # case-insensitive
    assert evaluate("vars.MISSING != 'false'", contexts) is True
    assert (
        evaluate("format('policycheck-{0}', inputs.environments || 'all')", contexts)
        == "policycheck-all"
    )
    assert interpolate("reports/${{ matrix.environment.name }}", contexts) == "reports/prod"
    assert interpolate("${{ inputs.fail-on == 'error' }}", contexts) is True
    assert condition("inputs.fail-on != 'none'", contexts, "failure") is False  # success() &&
    assert condition("always() && vars.POLICYCHECK_ATTEST == 'true'", contexts, "failure")
    for unknown in (
        "inputs.fail_on",
        "matrix.env",
        "hashFiles('x')",
        "strategy.job-index",
        "a ~ b",
    ):
        with pytest.raises(HarnessError):
            evaluate(unknown, contexts)


def test_actions_pinned_by_commit_with_their_version() -> None:
    """Every third-party action, in every job (those holding id-token: write included), is
    pinned by a full commit SHA, the version beside it, the same commit everywhere."""
    files = [ACTION, *sorted(WORKFLOWS.glob("*.yml"))]
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in files:
        for line in path.read_text().splitlines():
            found = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(\S+))?", line)
            if not found or found.group(1).startswith("./"):
                continue
            name, _, ref = found.group(1).partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", ref), (path.name, line)
            assert re.fullmatch(r"v\d+\.\d+\.\d+", found.group(2) or ""), (path.name, line)
            pins.setdefault(name, set()).add((ref, found.group(2)))
    assert {n for n, p in pins.items() if len(p) > 1} == set(), pins
    assert set(pins) == {n for n in STAND_INS}, "a stand-in for each, and only those"
    for line in ADOPTER_WORKFLOW.splitlines():
        if "actions/checkout@" in line:
            assert line.split("uses: ")[1] in {
                f"actions/checkout@{r} # {v}" for r, v in pins["actions/checkout"]
            }


def test_jobs_have_only_the_permissions_they_use() -> None:
    expected = {
        ("ci.yml", "test"): {"contents": "read"},
        ("ci.yml", "action"): {"contents": "read"},
        ("nightly-audit.yml", "environments"): {"contents": "read"},
        ("nightly-audit.yml", "audit"): {
            "contents": "read",
            "id-token": "write",
            "security-events": "write",
            "actions": "read",
        },
        ("nightly-audit.yml", "merge"): {"contents": "read", "actions": "read"},
        ("nightly-audit.yml", "archive"): {"contents": "read", "id-token": "write"},
        ("nightly-audit.yml", "attest"): {
            "contents": "read",
            "id-token": "write",
            "attestations": "write",
        },
        ("release-gate.yml", "environments"): {"contents": "read"},
        ("release-gate.yml", "gate"): {"contents": "read", "id-token": "write"},
    }
    found = {}
    for name, document in all_workflows().items():
        assert document["permissions"] in ({}, {"contents": "read"}), name
        for job_name, job in document["jobs"].items():
            found[(name, job_name)] = job["permissions"]
            steps = job["steps"]
            uses = [s.get("uses", "").split("@")[0] for s in steps]
            if job["permissions"].get("id-token") == "write":  # only to assume a role or attest
                assert {"aws-actions/configure-aws-credentials", "actions/attest"} & set(uses)
            for step in steps:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, (name, job_name)
    assert found == expected
    attest = all_workflows()["nightly-audit.yml"]["jobs"]["attest"]
    assert "vars.POLICYCHECK_ATTEST == 'true'" in attest["if"]
    readme = yaml.safe_load(ADOPTER_WORKFLOW)["jobs"]["audit"]
    assert readme["permissions"] == {"contents": "read", "id-token": "write"}
    assert readme["steps"][0]["with"]["persist-credentials"] is False


def test_full_history_wherever_drills_are_judged() -> None:
    """A job that audits (the action not install-only, or `policycheck run`) checks its
    repository out with fetch-depth 0: actions/checkout fetches one commit by default."""
    jobs = [(f"{n} {j}", job) for n, d in all_workflows().items() for j, job in d["jobs"].items()]
    jobs.append(("README", yaml.safe_load(ADOPTER_WORKFLOW)["jobs"]["audit"]))
    audits = 0
    for name, job in jobs:
        steps = job["steps"]
        audit = any(
            ("policycheck" in s.get("uses", "") or s.get("uses", "").startswith("./"))
            and str((s.get("with") or {}).get("install-only", "false")) != "true"
            for s in steps
        ) or any("policycheck run" in s.get("run", "") for s in steps)
        if audit:
            audits += 1
            [root_checkout] = [
                s
                for s in steps
                if s.get("uses", "").startswith("actions/checkout@")
                and "path" not in s.get("with", {})
            ]
            assert root_checkout["with"]["fetch-depth"] == 0, name
    assert audits == 3  # nightly audit, release gate, the README's


def test_python_packages_only_from_the_hash_pinned_lock() -> None:
    """No workflow or action installs a package by a bare name: the action's install step
    is the only pip, and it installs the lock with hashes, then its own checkout."""
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert all(s.get("shell") == "bash" for s in action["runs"]["steps"] if "run" in s)
    [install] = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    script = install["run"]
    assert "${{" not in script  # .ci/check_action_install.py runs it as it is
    assert 'lock="$GITHUB_ACTION_PATH/requirements/action.txt"' in script
    commands = re.findall(r"pip install((?:\\\n|[^\n])*)", script)
    assert len(commands) == 2, commands
    lock, source = (" ".join(c.replace("\\\n", " ").split()) for c in commands)
    assert lock.endswith('--require-hashes --only-binary :all: -r "$lock"'), lock
    assert source.endswith('--no-index --no-deps --no-build-isolation "$GITHUB_ACTION_PATH"'), (
        source
    )
    for where, run in all_scripts():
        if where.startswith("action.yml") and run == script:
            continue
        for forbidden in (
            "pip install",
            "pip3 install",
            "pipx",
            "uv pip",
            "uvx",
            "npm i",
            "curl",
            "wget",
        ):
            assert forbidden not in run, (where, forbidden)


def test_the_locks_are_checked_without_the_network(tmp_path: Path) -> None:
    """.ci/check_lock.py (make lint) passes on the locks, and catches a pin without hashes,
    a version pyproject.toml does not accept, a missing dependency, an unpinned one, a
    dev-only package in the action's lock and locks that disagree; a newer release on PyPI
    is none of those."""
    check = [sys.executable, str(REPO / ".ci" / "check_lock.py"), "--root", str(tmp_path)]
    requirements = tmp_path / "requirements"
    requirements.mkdir()
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    for name in ("action.in", "action.txt", "dev.txt"):
        shutil.copy(REPO / "requirements" / name, requirements)
    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    lock, dev = (requirements / "action.txt").read_text(), (requirements / "dev.txt").read_text()
    boto3_pin = re.search(r"^boto3==\S+ \\\n(?:    --hash=\S+(?: \\)?\n)+", lock, re.M)
    pydantic = re.search(r"^pydantic==(\S+) ", lock, re.M)
    tabulate = re.search(r"^tabulate==(\S+) ", dev, re.M)
    assert boto3_pin and pydantic and tabulate
    broken = {
        "has no sha256 hash": (lock.replace(boto3_pin.group(0), "boto3==1.40.0\n"), dev),
        "which it does not accept": (
            lock.replace(f"pydantic=={pydantic.group(1)} ", "pydantic==1.10.0 "),
            dev,
        ),
        "boto3>=1.34: not in action.txt": (lock.replace(boto3_pin.group(0), ""), dev),
        "not pinned with ==": (lock.replace("tabulate==", "tabulate>="), dev),
        "only a dev/demo extra": (
            lock + "moto==5.1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n",
            dev,
        ),
        "tabulate: action.txt pins": (lock, dev.replace(tabulate.group(0), "tabulate==0.9.0 ")),
        "moto[server]>=5.1: not in dev.txt": (lock, re.sub(r"^moto==", "mota==", dev, flags=re.M)),
    }
    for problem, (action_lock, dev_lock) in broken.items():
        (requirements / "action.txt").write_text(action_lock)
        (requirements / "dev.txt").write_text(dev_lock)
        result = subprocess.run(check, capture_output=True, text=True, check=False)
        assert result.returncode == 1 and problem in result.stderr, (problem, result.stderr)


def test_actionlint_is_clean() -> None:
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    assert actionlint, "actionlint (dev extra) is missing"
    result = subprocess.run(
        [actionlint, *map(str, sorted(WORKFLOWS.glob("*.yml")))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_uses_without_stand_in_fails_the_test(tmp_path: Path) -> None:
    gh = GitHub(tmp_path, repository=ADOPTER, repos={}, endpoint="http://127.0.0.1:9")
    workflow = """
on: workflow_dispatch
permissions: {}
jobs:
  j:
    permissions: {}
    steps:
      - uses: someone/something@0123456789012345678901234567890123456789
"""
    with pytest.raises(HarnessError, match="no stand-in for uses: someone/something"):
        gh.run(text=workflow)


# --- Runs -------------------------------------------------------------------------------------


@ADOPTER_RUNS
def test_adopter_gets_a_nightly_audit_from_the_readme_workflow(
    world: World, tmp_path: Path
) -> None:
    """A repository with only policy.yaml, controls/, drill evidence and the README's
    workflow: the action installs from its pinned checkout, assumes the role in the
    policy's region, audits prod and passes, with reports, summary and outputs."""
    world.fleet()
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    run = gh.run("policycheck.yml", text=adopter_workflow(world))
    job = run.job("audit")
    assert job.result == "success", job.log()
    action = job.step(POLICYCHECK)
    assert action.outputs["status"] == "pass"
    assert action.outputs["exit-code"] == "0"
    report = report_of(job, "reports")
    assert action.outputs["report"] == "reports/report.json"
    counts = report["summary"]["results"]
    assert {k: action.outputs[k] for k in ("pass", "fail", "error", "waived", "total")} == {
        k: str(counts[k]) for k in ("pass", "fail", "error", "waived", "total")
    }
    assert report["run"]["selected_environments"] == ["prod"]
    assert int(action.outputs["pass"]) > 0 and action.outputs["fail"] == "0"
    for name in (
        "report.md",
        "report.csv",
        "report.junit.xml",
        "report.sarif",
        "summary.md",
        "SHA256SUMS",
    ):
        assert (job.workspace / "reports" / name).is_file(), name
    assert job.summary.startswith("## policycheck: PASS")
    aws, archive_role = gh.called("aws-actions/configure-aws-credentials")
    assert (aws["role-to-assume"], aws["aws-region"]) == (role("prod"), "eu-central-1")
    # The evidence outlives the job: uploaded for the run page, archived with its own role.
    assert (run.artifacts / "policycheck-reports" / "report.json").is_file()
    assert archive_role["role-to-assume"].endswith(":role/policycheck-archive")
    assert_archived(world, gh, "prod", report_of(job, "reports"), "1-1")
    [checkout] = gh.called("actions/checkout")
    assert (checkout["fetch-depth"], checkout["persist-credentials"]) == ("0", "false")
    assert gh.called("actions/setup-python")[0]["python-version"] == "3.11"
    assert gh.called("github/codeql-action/upload-sarif") == []  # upload-sarif: false
    assert_installed_from_the_lock(gh, {tmp_path / "_actions" / POLICYCHECK / world.sha})


@ADOPTER_RUNS
def test_drill_evidence_needs_the_full_history(world: World, tmp_path: Path) -> None:
    """In dev the drills are judged: with fetch-depth 1 the checkout is shallow, deleted
    records cannot be seen, the drill results are errors and the job is red; with the
    README's fetch-depth 0 they pass."""
    world.fleet()
    gh = world.github(tmp_path, environments={"dev": {"POLICYCHECK_ROLE_ARN": role("dev")}})
    dev = {"environment: prod": "environment: dev", "environments: prod": "environments: dev"}
    passed = gh.run("policycheck.yml", text=adopter_workflow(world, **dev)).job("audit")
    assert passed.result == "success", passed.log()
    drills = [
        r
        for r in report_of(passed, "reports")["results"]
        if r["check_id"] == "dr-drill-evidence-fresh"
    ]
    assert len(drills) == 4 and {r["status"] for r in drills} == {"pass"}
    shallow = adopter_workflow(world, **dev, **{"fetch-depth: 0": "fetch-depth: 1"})
    job = gh.run("policycheck.yml", text=shallow).job("audit")
    assert job.result == "failure"
    assert job.step(POLICYCHECK).outputs["exit-code"] == "3"
    drills = [
        r
        for r in report_of(job, "reports")["results"]
        if r["check_id"] == "dr-drill-evidence-fresh"
    ]
    assert {r["status"] for r in drills} == {"error"}
    assert "shallow clone" in json.dumps(drills)


@NIGHTLY_RUNS
def test_ci_installs_the_action_and_runs_it(world: World, tmp_path: Path) -> None:
    gh = world.github(tmp_path, repository=POLICYCHECK)
    job = gh.run("ci.yml", jobs=["action"]).job("action")
    assert job.result == "success", job.log()
    assert '"name": "prod"' in job.log() and "sts:AssumeRoleWithWebIdentity" in job.log()
    assert_installed_from_the_lock(gh, {job.workspace})


@ADOPTER_RUNS
def test_release_gate_from_the_policy(world: World, tmp_path: Path) -> None:
    """The reusable gate, called by an adopter: its matrix comes from the policy, it runs
    the action checked out at the workflow's own commit, and passes a compliant prod."""
    world.fleet()
    call = yaml.safe_load(RELEASE_GATE_CALL)["jobs"]["compliance"]  # the README's
    assert call["uses"].startswith(f"{POLICYCHECK}/.github/workflows/release-gate.yml@")
    gate_permissions = all_workflows()["release-gate.yml"]["jobs"]["gate"]["permissions"]
    assert gate_permissions.items() <= call["permissions"].items()  # the caller's cap them
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    run = gh.run("release-gate.yml", inputs=call["with"], workflow_repository=POLICYCHECK)
    environments = run.job("environments")
    assert environments.result == "success", environments.log()
    assert [e["name"] for e in json.loads(environments.outputs["matrix"])] == ["prod"]
    gate = run.job("gate", environment="prod")
    assert gate.result == "success", gate.log()
    assert gate.step("gate").outputs["status"] == "pass"
    actions = [c for c in gh.called("actions/checkout") if c.get("repository") == POLICYCHECK]
    assert {(c["ref"], c["path"]) for c in actions} == {(world.sha, ".policycheck-action")}
    assert [c["aws-region"] for c in gh.called("aws-actions/configure-aws-credentials")] == [
        "eu-central-1"
    ]
    assert (run.artifacts / "release-gate-prod" / "report.json").is_file()
    assert_installed_from_the_lock(
        gh, {j.workspace / ".policycheck-action" for j in (environments, gate)}
    )
    unknown = gh.run(
        "release-gate.yml", inputs={"environments": "staging"}, workflow_repository=POLICYCHECK
    )
    assert unknown.job("environments").result == "failure"
    assert "['staging']: not in the policy" in unknown.job("environments").log()
    assert unknown.jobs["gate"] == []  # skipped


@NIGHTLY_RUNS
def test_nightly_merge_fails_when_an_environment_left_no_report(
    world: World, tmp_path: Path
) -> None:
    """prod has no role variable: its job fails before auditing, leaves no report, and the
    merge records prod as not assessed and exits 3: the night is red."""
    world.fleet()
    gh = world.github(
        tmp_path,
        repository=POLICYCHECK,
        environments={"dev": {"POLICYCHECK_ROLE_ARN": role("dev")}},
    )
    run = gh.run("nightly-audit.yml")
    assert run.job("audit", environment="dev").result == "success"
    prod = run.job("audit", environment="prod")
    assert prod.result == "failure" and "role-to-assume" in prod.log()
    assert not (run.artifacts / "report-prod").exists()
    merge = run.job("merge")
    assert merge.result == "failure"
    assert merge.step("Merge the environments into one control matrix").outcome == "failure"
    merged = report_of(merge, "merged")
    assert merged["summary"]["status"] == "not_assessed"
    assert "prod" in json.dumps(merged["run"]["gaps"])
    assert merge.outputs["merged"] == "true" and (run.artifacts / "merged-report").is_dir()
    assert run.jobs["attest"] == []  # POLICYCHECK_ATTEST unset
    assert run.conclusion == "failure"


@NIGHTLY_RUNS
def test_nightly_two_nights(world: World, tmp_path: Path) -> None:
    """Night 1: the matrix comes from the policy, each environment is audited in its region
    and uploads its report and SARIF, the merge passes with nothing to compare. Night 2 a
    bucket lost versioning in prod: the audit jobs still report, the drift step fails on
    the new failure, and the merged reports are attested."""
    world.fleet()
    roles = {e: {"POLICYCHECK_ROLE_ARN": role(e)} for e in ("dev", "prod")}
    gh = world.github(tmp_path, repository=POLICYCHECK, environments=roles)
    first = gh.run("nightly-audit.yml")
    assert first.conclusion == "success", "\n".join(
        j.log() for js in first.jobs.values() for j in js
    )
    listed = json.loads(first.job("environments").outputs["matrix"])
    assert [(e["name"], e["region"]) for e in listed] == [
        ("dev", "eu-central-1"),
        ("prod", "eu-central-1"),
    ]
    calls = gh.called("aws-actions/configure-aws-credentials")
    assert sorted((c["role-to-assume"], c["aws-region"]) for c in calls) == [
        ("arn:aws:iam::123456789012:role/policycheck-archive", ARCHIVE_REGION),  # archive job
        (role("dev"), "eu-central-1"),
        (role("prod"), "eu-central-1"),
    ]
    for environment in ("dev", "prod"):
        job = first.job("audit", environment=environment)
        assert job.step("audit").outputs["status"] == "pass"
        assert job.summary.startswith("## policycheck: PASS")
        assert (first.artifacts / f"report-{environment}" / "report.sarif").is_file()
    sarif = gh.called("github/codeql-action/upload-sarif")
    assert sorted(c["category"] for c in sarif) == ["policycheck-dev", "policycheck-prod"]
    merge = first.job("merge")
    assert report_of(merge, "merged")["run"]["selected_environments"] == ["dev", "prod"]
    assert "No previous night to compare with: judged on its own." in merge.summary
    assert first.jobs["attest"] == []
    [archived] = first.jobs["archive"]
    assert archived.result == "success", archived.log()
    assert_archived(world, gh, "merged", report_of(merge, "merged"), "1-1")
    assert_installed_from_the_lock(gh, {j.workspace for js in first.jobs.values() for j in js})

    world.fleet(PROD_DEVIATION)
    gh.vars["POLICYCHECK_ATTEST"] = "true"
    second = gh.run("nightly-audit.yml")
    prod = second.job("audit", environment="prod")
    assert prod.result == "success"  # fail-on none: the night judges drift
    assert (prod.step("audit").outputs["status"], prod.step("audit").outputs["fail"]) == (
        "fail",
        "1",
    )
    merge = second.job("merge")
    assert merge.result == "failure"
    assert (
        merge.step("Drift since last night (fails on new failures or errors)").outcome == "failure"
    )
    assert (merge.workspace / "previous" / "report.json").is_file()  # night 1's, through gh
    assert (
        "s3-versioning-enabled" in merge.summary and "nn-aiconnectors-audit-prod" in merge.summary
    )
    [archived] = second.jobs["archive"]  # a red night is evidence too
    assert archived.result == "success", archived.log()
    assert_archived(world, gh, "merged", report_of(merge, "merged"), "2-1")
    [attest] = second.jobs["attest"]
    assert attest.result == "success", attest.log()
    assert gh.called("actions/attest")[0]["subject-checksums"] == "merged/SHA256SUMS"
    assert second.conclusion == "failure"


@ADOPTER_RUNS
def test_failing_fleet_reports_then_fails(world: World, tmp_path: Path) -> None:
    """A failure in prod: the action writes the reports, the summary and the outputs, tries
    the SARIF upload (code scanning not available: a notice, not a failure), and its last
    step fails the job with exit 1; with fail-on none the same run is green."""
    world.fleet(PROD_DEVIATION)
    gh = world.github(
        tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}}, code_scanning=False
    )
    indent, upload = " " * 10, "upload-sarif: true\n"
    sarif = {
        "id-token: write}": "id-token: write, security-events: write}",
        f"{indent}environments: prod\n": f"{indent}environments: prod\n{indent}{upload}",
    }
    job = gh.run("policycheck.yml", text=adopter_workflow(world, **sarif)).job("audit")
    assert job.result == "failure"
    action = job.step(POLICYCHECK)
    assert (action.outputs["status"], action.outputs["exit-code"], action.outputs["fail"]) == (
        "fail",
        "1",
        "1",
    )
    assert (job.workspace / "reports" / "report.sarif").is_file()
    assert job.summary.startswith("## policycheck: FAIL") and "s3-versioning-enabled" in job.summary
    upload = job.step("sarif")
    assert (upload.outcome, upload.conclusion) == ("failure", "success")
    assert (
        "::notice title=policycheck::SARIF not uploaded"
        in job.step("Code scanning not available").log
    )
    gate = job.step("Pass or fail as fail-on says")
    assert gate.outcome == "failure" and "::error title=policycheck::a result failed" in gate.log
    order = [s.name for s in job.all_steps() if s.outcome != "skipped"]
    # The action's last step; after it only the workflow's `if: always()` steps, which
    # upload and archive the red night's reports too.
    assert len(order) - 1 - order.index("Pass or fail as fail-on says") == 3, order
    assert_archived(world, gh, "prod", report_of(job, "reports"), "1-1")
    assert [c["category"] for c in gh.called("github/codeql-action/upload-sarif")] == [
        "policycheck-prod"
    ]

    gh.code_scanning = True
    relaxed = {**sarif, "upload-sarif: true\n": "upload-sarif: true\n          fail-on: none\n"}
    job = gh.run("policycheck.yml", text=adopter_workflow(world, **relaxed)).job("audit")
    assert job.result == "success", job.log()
    assert job.step(POLICYCHECK).outputs["status"] == "fail"
    assert job.step("sarif").outcome == "success"
    assert job.step("Code scanning not available").outcome == "skipped"


@ADOPTER_RUNS
def test_release_gate_blocks_a_failing_prod(world: World, tmp_path: Path) -> None:
    world.fleet(PROD_DEVIATION)
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    run = gh.run(
        "release-gate.yml", inputs={"environments": '["prod"]'}, workflow_repository=POLICYCHECK
    )
    gate = run.job("gate", environment="prod")
    assert gate.result == "failure"
    assert gate.step("gate").outputs["exit-code"] == "1"
    assert (run.artifacts / "release-gate-prod" / "report.json").is_file()  # uploaded anyway


@NIGHTLY_RUNS
def test_a_broken_shell_line_fails(world: World, tmp_path: Path) -> None:
    """The runs above prove the scripts work because a broken one fails: an unclosed quote
    in the nightly's first job."""
    gh = world.github(tmp_path, repository=POLICYCHECK)
    workflow = (WORKFLOWS / "nightly-audit.yml").read_text()
    line = 'echo "matrix=$matrix" >> "$GITHUB_OUTPUT"'
    assert line in workflow
    fine = gh.run("nightly-audit.yml", jobs=["environments"]).job("environments")
    broken = gh.run(
        "nightly-audit.yml", text=workflow.replace(line, line[:-1]), jobs=["environments"]
    ).job("environments")
    assert fine.result == "success" and fine.outputs["matrix"].startswith("[{")
    assert broken.result == "failure"
    assert "unexpected EOF" in broken.step("The matrix, from the policy").log


#: The aws CLI, for the README's commands: the same IAM calls, with boto3, against moto.
AWS_CLI = """
import json, sys, boto3
from pathlib import Path

service, operation, *rest = sys.argv[1:]
options = dict(zip(rest[::2], rest[1::2]))
given = options.pop
iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def document(option):
    return Path(given(option).removeprefix("file://")).read_text()


if operation == "list-open-id-connect-providers":
    print(json.dumps(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]))
elif operation == "create-open-id-connect-provider":
    iam.create_open_id_connect_provider(
        Url=given("--url"), ClientIDList=given("--client-id-list").split()
    )
elif operation == "create-role":
    iam.create_role(
        RoleName=given("--role-name"),
        AssumeRolePolicyDocument=document("--assume-role-policy-document"),
    )
elif operation == "put-role-policy":
    iam.put_role_policy(
        RoleName=given("--role-name"),
        PolicyName=given("--policy-name"),
        PolicyDocument=document("--policy-document"),
    )
else:
    sys.exit(f"aws stand-in: no {operation}")
if service != "iam" or options:
    sys.exit(f"aws stand-in: {service} {options}")
"""


@NIGHTLY_RUNS
def test_readme_role_commands_run(world: World, tmp_path: Path) -> None:
    """The README's commands that create the role run as written, where policy.yaml is:
    policycheck writes the trust and permissions policies, and stand-ins for the aws and gh
    CLIs make the calls against moto (IAM) and record the variable."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "policycheck").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -P -m policycheck "$@"\n'
    )
    (tools / "aws").write_text(f"#!{sys.executable}\n{AWS_CLI}")
    (tools / "gh").write_text(f"""#!{sys.executable}
import json, sys
assert sys.argv[1:3] == ["variable", "set"], sys.argv
name, rest = sys.argv[3], sys.argv[4:]
with open({str(tmp_path / "variables.json")!r}, "a") as out:
    out.write(json.dumps({{"name": name, **dict(zip(rest[::2], rest[1::2]))}}) + "\\n")
""")
    for tool in tools.iterdir():
        tool.chmod(0o755)
    directory = tmp_path / "adopter"
    subprocess.run(["git", "clone", "--quiet", str(world.adopter), str(directory)], check=True)
    env = {
        "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": world.moto.url,
        "HOME": str(tmp_path),
    }
    for commands in (ROLE_COMMANDS, VARIABLE_COMMAND):
        result = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", commands],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    trust = json.loads((directory / "trust.json").read_text())
    [statement] = trust["Statement"]
    assert statement["Principal"]["Federated"] == (
        "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    )
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:OWNER/REPO:environment:prod",
    }
    readonly = json.loads((directory / "readonly.json").read_text())
    actions = {
        a
        for s in readonly["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "s3:GetBucketVersioning" in actions and not [
        a for a in actions if re.search(r":(Put|Delete|Create)", a)
    ]
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=world.moto.url)
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert any("token.actions.githubusercontent.com" in p["Arn"] for p in providers)
    created = iam.get_role(RoleName="policycheck-readonly-prod")["Role"]
    assert created["AssumeRolePolicyDocument"] == trust
    attached = iam.get_role_policy(
        RoleName="policycheck-readonly-prod", PolicyName="policycheck-readonly"
    )
    assert attached["PolicyDocument"] == readonly
    [variable] = [
        json.loads(line) for line in (tmp_path / "variables.json").read_text().splitlines()
    ]
    assert variable == {
        "name": "POLICYCHECK_ROLE_ARN",
        "--env": "prod",
        "--body": "arn:aws:iam::111111111111:role/policycheck-readonly-prod",
    }
    # ... the variable the workflows read, in the environment they run in.
    for workflow in (ADOPTER_WORKFLOW, *(p.read_text() for p in WORKFLOWS.glob("*.yml"))):
        if "configure-aws-credentials" in workflow or "role-to-assume" in workflow:
            assert "${{ vars.POLICYCHECK_ROLE_ARN }}" in workflow


@NIGHTLY_RUNS
def test_first_night_with_a_failure_is_red(world: World, tmp_path: Path) -> None:
    """Without a previous night to compare with, a night with a failure is judged on its
    own: red, so that it never becomes the baseline unnoticed."""
    world.fleet(PROD_DEVIATION)
    roles = {e: {"POLICYCHECK_ROLE_ARN": role(e)} for e in ("dev", "prod")}
    gh = world.github(tmp_path, repository=POLICYCHECK, environments=roles)
    first = gh.run("nightly-audit.yml")
    merge = first.job("merge")
    assert merge.result == "failure"
    drift = merge.step("Drift since last night (fails on new failures or errors)")
    assert drift.outcome == "failure"
    assert first.conclusion == "failure"


# --- Before apply: the plan gate ------------------------------------------------------------

_FAKE_TERRAFORM = """#!/bin/sh
# terraform of the test runner: plan writes tfplan, show -json prints the prepared plan.
echo "terraform $*" >> @LOG@
case "$1" in
  init) ;;
  plan) echo binary > tfplan ;;
  show) [ -f tfplan ] && cat @PLAN@ ;;
  apply) [ -f tfplan ] || exit 1 ;;
  *) exit 1 ;;
esac
"""


def _infra_repository(world: World, tmp_path: Path) -> Path:
    """A platform repository: policy.yaml, controls/, its layout and a Terraform module."""
    repository = tmp_path / "infra"
    shutil.copytree(world.adopter, repository, ignore=shutil.ignore_patterns(".git"))
    (repository / "infra" / "main" / "shared").mkdir(parents=True, exist_ok=True)
    (repository / "infra" / "main" / "shared" / "main.tf").write_text('module "shared" {}\n')
    return _repository(repository, "platform")


def _terraform(gh: GitHub, plan: dict[str, Any]) -> Path:
    """A terraform on the runner's PATH showing ``plan``; its log of commands."""
    log, planned = gh.root / "terraform.log", gh.root / "plan.json"
    planned.write_text(json.dumps(plan))
    tool = gh.tools / "terraform"
    tool.write_text(_FAKE_TERRAFORM.replace("@LOG@", str(log)).replace("@PLAN@", str(planned)))
    tool.chmod(0o755)
    log.touch()
    return log


@ADOPTER_RUNS
@pytest.mark.parametrize("breaks", [False, True])
def test_the_readme_plan_gate_runs_before_apply(world: World, tmp_path: Path, breaks: bool) -> None:
    """The README's infra-apply job: terraform plan, show -json, the action judges the plan
    (no AWS call of its own), and apply runs only when the plan keeps every control; a
    plan that turns PITR off stops before apply, with the reports and the summary."""
    plan = platform_plan("prod")
    if breaks:
        plan = deviated(plan, "dynamodb-pitr-enabled", "mcp-oauth-storage-teams-prod", env="prod")
    gh = world.github(
        tmp_path,
        repository="acme/infra",
        repos={"acme/infra": _infra_repository(world, tmp_path)},
        environments={"prod": {"TERRAFORM_ROLE_ARN": role("prod")}},
    )
    log = _terraform(gh, plan)
    workflow = BEFORE_APPLY_WORKFLOW.replace("COMMIT_SHA", world.sha)
    job = gh.run("infra-apply.yml", text=workflow).job("apply")
    gate = job.step(POLICYCHECK)
    commands = log.read_text().splitlines()
    assert commands[:3] == [
        "terraform init -input=false",
        "terraform plan -input=false -out tfplan",
        "terraform show -json tfplan",
    ]
    report = report_of(job, "reports")
    assert report["run"]["sources"][0]["path"] == "plan.json"
    if breaks:
        assert job.result == "failure"
        assert (gate.outputs["exit-code"], gate.outputs["status"]) == ("1", "fail")
        assert "terraform apply -input=false tfplan" not in commands
        assert "**PLAN** this plan breaks `dynamodb-pitr-enabled`" in job.summary
    else:
        assert job.result == "success", job.log()
        assert (gate.outputs["exit-code"], gate.outputs["status"]) == ("0", "pass")
        assert commands[-1] == "terraform apply -input=false tfplan"
        # images, running tasks and bucket regions (read live), the state's
        # writers and the apply role's trust; the repository checks are
        # judged on the checked-out repository
        assert int(gate.outputs["not-assessed"]) == 13
        assert job.summary.startswith("## policycheck: PASS on the plan")


@ADOPTER_RUNS
def test_release_gate_judges_a_plan_artifact(world: World, tmp_path: Path) -> None:
    """release-gate.yml with plan-artifact: the plans the caller uploaded are judged
    instead of the live account (no role assumed); a plan that breaks a control fails the
    release."""
    gh = world.github(tmp_path, environments={"prod": {"POLICYCHECK_ROLE_ARN": role("prod")}})
    for name, plan, expected in (
        ("compliant", platform_plan("prod"), "success"),
        (
            "broken",
            deviated(
                platform_plan("prod"),
                "s3-versioning-enabled",
                "nn-aiconnectors-audit-prod",
                env="prod",
            ),
            "failure",
        ),
    ):
        plans = tmp_path / name
        plans.mkdir()
        (plans / "shared.json").write_text(json.dumps(plan))
        run = gh.run(
            "release-gate.yml",
            inputs={"environments": "prod", "plan-artifact": "tfplan-prod"},
            workflow_repository=POLICYCHECK,
            artifacts={"tfplan-prod": plans},
        )
        gate = run.job("gate", environment="prod")
        assert gate.result == expected, gate.log()
        assert gate.step("gate").outputs["exit-code"] == ("0" if expected == "success" else "1")
        report = json.loads((run.artifacts / "release-gate-prod" / "report.json").read_text())
        assert [s["path"] for s in report["run"]["sources"]] == [".policycheck-plans/shared.json"]
    assert gh.called("aws-actions/configure-aws-credentials") == []
