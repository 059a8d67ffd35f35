"""The platform repository as a source of facts (read from a real git repository), and
the checks that judge it: the Terraform backend of every module (SC.10.02) and the
recovery plan's paths and workflows (SC.10.03.01)."""

import subprocess
from pathlib import Path
from typing import Any

import pytest

from policycheck.checks.repository import Unresolvable
from policycheck.engine.fetching import read_fact
from policycheck.plugin.facts import FactOutcome, FetchContext
from policycheck.plugin.registry import load_registry
from policycheck.sources.repository.checkout import PlatformRepository
from support.checks import judge

GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid")

ROOT_HCL = """locals {
  env    = get_env("TG_ENV")
  region = "eu-central-1"
}
remote_state {
  backend  = "s3"
  generate = { path = "backend.tf", if_exists = "overwrite_terragrunt" }
  config = {
    bucket         = "aiconnectors-terraform-state-${local.env}"
    key            = "${path_relative_to_include()}/terraform.tfstate"
    region         = local.region
    encrypt        = %(encrypt)s
    %(lock)s
  }
}
"""
LOCK = 'dynamodb_table = "aiconnectors-terraform-lock-${local.env}"'
INCLUDE = 'include "root" {\n  path = find_in_parent_folders("root.hcl")\n}\n'
MODULES = ("infra/main/shared", "infra/main/mcps/teams", "infra/initial/mcps/teams")

WORKFLOW = """name: deploy
on:
  push: {branches: [main]}
  workflow_dispatch: {}
permissions:
  id-token: write
  contents: read
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: arn:aws:iam::111111111111:role/deploy
          aws-region: eu-central-1
"""


def _commit(root: Path, files: dict[str, str]) -> Path:
    if not (root / ".git").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "layout", "--allow-empty"], cwd=root, check=True)
    return root


def _layout(encrypt: str = "true", lock: str = LOCK, **extra: str) -> dict[str, str]:
    files = {"infra/root.hcl": ROOT_HCL % {"encrypt": encrypt, "lock": lock}}
    files.update({f"{module}/terragrunt.hcl": INCLUDE for module in MODULES})
    files.update(extra)
    return files


def _read(fact: str, root: Path, name: str) -> FactOutcome:
    repository = PlatformRepository(root)
    context = FetchContext(name, "123456789012", "eu-central-1", "", lambda s: repository)
    return read_fact(load_registry().facts[fact], context)


def _judge_backend(root: Path, **params: Any) -> Any:
    outcome = _read("terraform_tree.backends", root, "infra")
    assert outcome.error is None, outcome.error
    return judge(
        "terraform-backend-encrypted-and-locked",
        {"terraform_tree.backends": outcome.value},
        resource="infra",
        **params,
    )


# --- the repository source ----------------------------------------------------------------


def test_only_the_commit_counts(tmp_path: Path) -> None:
    root = _commit(tmp_path / "repo", {"README.md": "x"})
    (root / "uncommitted.txt").write_text("not audited")
    repository = PlatformRepository(root)
    assert repository.entry("README.md") is not None
    assert repository.entry("uncommitted.txt") is None
    assert len(repository.commit) == 40


def test_outside_the_repository_is_an_error(tmp_path: Path) -> None:
    root = _commit(tmp_path / "repo", {"README.md": "x"})
    outcome = _read("repository_path.entry", root, "../repo/README.md")
    assert outcome.error is not None and outcome.error.code == "RepositoryUnavailable"
    assert "outside the repository" in outcome.error.message


def test_not_a_git_repository_is_an_error(tmp_path: Path) -> None:
    outcome = _read("repository_path.entry", tmp_path, "README.md")
    assert outcome.error is not None and outcome.error.code == "RepositoryUnavailable"
    assert outcome.error.message == (
        f"platform repository {tmp_path}: not in a git work tree: the audited commit cannot be read"
    )


def test_shallow_clone_is_an_error(tmp_path: Path) -> None:
    origin = _commit(tmp_path / "origin", {"a": "1"})
    _commit(origin, {"b": "2"})
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)], check=True
    )
    outcome = _read("terraform_tree.backends", clone, "infra")
    assert outcome.error is not None and "shallow" in outcome.error.message


# --- SC.10.02: terraform-backend-encrypted-and-locked -----------------------------------


def test_backend_passes_when_every_module_encrypts_and_locks(tmp_path: Path) -> None:
    verdict = _judge_backend(_commit(tmp_path, _layout()))
    assert verdict.passed, verdict.message
    assert "3 module(s)" in verdict.message


def test_backend_without_encryption_fails(tmp_path: Path) -> None:
    verdict = _judge_backend(_commit(tmp_path, _layout(encrypt="false")))
    assert not verdict.passed
    assert verdict.message.startswith(
        "infra/root.hcl (used by 3 module(s): infra/initial/mcps/teams, infra/main/mcps/teams, "
        "infra/main/shared): encrypt = False; expected every module with encrypt = true"
    )


def test_backend_in_another_environment_names_its_bucket(tmp_path: Path) -> None:
    root = _commit(tmp_path, _layout())
    prod = {"variables": {"env": "prod"}, "environment": "prod"}
    outcome = _read("terraform_tree.backends", root, "infra")
    verdict = judge(
        "terraform-backend-encrypted-and-locked",
        {"terraform_tree.backends": outcome.value},
        resource="infra",
        context=prod,
    )
    assert verdict.passed, verdict.message
    wrong = judge(
        "terraform-backend-encrypted-and-locked",
        {"terraform_tree.backends": outcome.value},
        resource="infra",
        context=prod,
        environment_variables={"TG_ENV": "dev"},
    )
    assert not wrong.passed and "bucket = 'aiconnectors-terraform-state-dev'" in wrong.message


def test_lockfile_is_accepted_only_where_allowed(tmp_path: Path) -> None:
    root = _commit(tmp_path, _layout(lock="use_lockfile = true"))
    assert not _judge_backend(root).passed
    assert _judge_backend(root, allow_lockfile=True).passed


def test_a_module_overriding_the_root_without_encryption_fails(tmp_path: Path) -> None:
    override = (
        'remote_state {\n  backend = "s3"\n  config = {\n'
        '    bucket = "aiconnectors-terraform-state-dev"\n    region = "eu-central-1"\n'
        '    dynamodb_table = "aiconnectors-terraform-lock-dev"\n  }\n}\n'
    )
    root = _commit(tmp_path, _layout(**{"infra/main/mcps/teams/terragrunt.hcl": override}))
    verdict = _judge_backend(root)
    assert not verdict.passed
    assert verdict.message.startswith("infra/main/mcps/teams/terragrunt.hcl: encrypt = None;")


def test_a_module_without_a_backend_is_local_and_fails(tmp_path: Path) -> None:
    root = _commit(tmp_path, _layout(**{"infra/main/mcps/teams/terragrunt.hcl": "inputs = {}\n"}))
    verdict = _judge_backend(root)
    assert not verdict.passed and "infra/main/mcps/teams: uses the local backend" in verdict.message


def test_plain_terraform_backend_blocks_are_modules(tmp_path: Path) -> None:
    backend = (
        'terraform {\n  backend "s3" {\n    bucket = "aiconnectors-terraform-state-dev"\n'
        '    region = "eu-central-1"\n    encrypt = true\n'
        '    dynamodb_table = "aiconnectors-terraform-lock-dev"\n  }\n}\n'
    )
    root = _commit(tmp_path, _layout(**{"infra/bootstrap/main.tf": backend}))
    assert _judge_backend(root).passed
    root = _commit(root, {"infra/bootstrap/main.tf": backend.replace("true", "false")})
    verdict = _judge_backend(root)
    assert not verdict.passed
    assert verdict.message.startswith("infra/bootstrap/main.tf: encrypt = False;")


@pytest.mark.parametrize(
    "bucket",
    [
        '"aiconnectors-terraform-state-${get_env("OTHER")}"',
        'read_terragrunt_config("env.hcl").locals.bucket',
        "var.bucket",
    ],
)
def test_what_only_terragrunt_can_compute_is_an_error(tmp_path: Path, bucket: str) -> None:
    files = _layout()
    files["infra/root.hcl"] = files["infra/root.hcl"].replace(
        '"aiconnectors-terraform-state-${local.env}"', bucket
    )
    with pytest.raises(Unresolvable, match="cannot be resolved without running terragrunt"):
        _judge_backend(_commit(tmp_path, files))


def test_get_env_default_is_used_when_the_variable_is_not_known(tmp_path: Path) -> None:
    files = _layout()
    files["infra/root.hcl"] = files["infra/root.hcl"].replace(
        'get_env("TG_ENV")', 'get_env("DEPLOY_ENV", "dev")'
    )
    assert _judge_backend(_commit(tmp_path, files)).passed


def test_absent_tree_is_a_missing_resource(tmp_path: Path) -> None:
    outcome = _read("terraform_tree.backends", _commit(tmp_path, {"a": "1"}), "infra")
    assert outcome.resource_missing


def test_an_empty_tree_fails(tmp_path: Path) -> None:
    verdict = _judge_backend(_commit(tmp_path, {"infra/README.md": "nothing"}))
    assert not verdict.passed and "no module under infra runs apply" in verdict.message


def test_invalid_hcl_is_an_error(tmp_path: Path) -> None:
    root = _commit(tmp_path, _layout(**{"infra/main/shared/terragrunt.hcl": "include {{{"}))
    outcome = _read("terraform_tree.backends", root, "infra")
    assert outcome.error is not None and outcome.error.code == "InvalidHcl"
    assert "infra/main/shared/terragrunt.hcl" in outcome.error.message


def test_a_symlinked_config_is_refused(tmp_path: Path) -> None:
    root = _commit(tmp_path, _layout())
    link = root / "infra/main/shared/terragrunt.hcl"
    link.unlink()
    link.symlink_to("../../root.hcl")
    _commit(root, {})
    outcome = _read("terraform_tree.backends", root, "infra")
    assert outcome.error is not None and outcome.error.code == "UnreadableRepositoryFile"
    assert "infra/main/shared/terragrunt.hcl is a symlink" in outcome.error.message


# --- SC.10.03.01: recovery-path-present -------------------------------------------------

STEP = "§4.1: cd connectors/mcps/{name}/ecs && python render.py {env}"


def _judge_path(root: Path, path: str, kind: str = "file") -> Any:
    outcome = _read("repository_path.entry", root, path)
    assert outcome.error is None, outcome.error
    return judge(
        "recovery-path-present",
        {"repository_path.entry": outcome.value},
        resource=path,
        kind=kind,
        procedure=STEP,
    )


def test_path_present(tmp_path: Path) -> None:
    root = _commit(tmp_path, {"connectors/mcps/teams/ecs/render.py": "print()"})
    assert _judge_path(root, "connectors/mcps/teams/ecs/render.py").passed
    assert _judge_path(root, "connectors/mcps/teams", kind="directory").passed


def test_path_of_the_wrong_kind_fails(tmp_path: Path) -> None:
    root = _commit(tmp_path, {"infra/main/mcps/teams": "a file, not a module"})
    verdict = _judge_path(root, "infra/main/mcps/teams", kind="directory")
    assert not verdict.passed and "is a file" in verdict.message


def test_missing_path_fails_naming_the_step_it_breaks(tmp_path: Path) -> None:
    root = _commit(tmp_path, {"connectors/mcps/teams/ecs/render.py": "print()"})
    verdict = _judge_path(root, "connectors/mcps/outlook-mcp/ecs/render.py")
    assert not verdict.passed
    assert "is not on commit" in verdict.message and STEP in verdict.message


def test_uncommitted_path_is_missing(tmp_path: Path) -> None:
    root = _commit(tmp_path, {"a": "1"})
    (root / "render.py").write_text("print()")
    assert not _judge_path(root, "render.py").passed


# --- SC.10.03.01: recovery-workflow-runnable --------------------------------------------

RERUN = "§4.1: re-run the GitHub Actions deploy workflow (deploy-{name}-mcp.yml)"


def _judge_workflow(root: Path, name: str = "deploy-teams-mcp.yml") -> Any:
    outcome = _read("github_workflow.definition", root, name)
    assert outcome.error is None, outcome.error
    return judge(
        "recovery-workflow-runnable",
        {"github_workflow.definition": outcome.value},
        resource=name,
        procedure=RERUN,
    )


def _with_workflow(tmp_path: Path, text: str) -> Path:
    return _commit(tmp_path, {".github/workflows/deploy-teams-mcp.yml": text})


def test_workflow_runnable(tmp_path: Path) -> None:
    verdict = _judge_workflow(_with_workflow(tmp_path, WORKFLOW))
    assert verdict.passed, verdict.message


def test_workflow_with_access_keys_fails(tmp_path: Path) -> None:
    keys = WORKFLOW.replace(
        "role-to-assume: arn:aws:iam::111111111111:role/deploy",
        "aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}",
    )
    verdict = _judge_workflow(_with_workflow(tmp_path, keys))
    assert not verdict.passed
    assert "assumes no role" in verdict.message and "long-lived AWS keys" in verdict.message


def test_workflow_without_dispatch_fails(tmp_path: Path) -> None:
    verdict = _judge_workflow(_with_workflow(tmp_path, WORKFLOW.replace("workflow_dispatch", "x")))
    assert not verdict.passed and "no workflow_dispatch" in verdict.message


def test_id_token_granted_by_the_job_is_enough(tmp_path: Path) -> None:
    by_job = WORKFLOW.replace("permissions:\n  id-token: write\n  contents: read\n", "").replace(
        "    runs-on:", "    permissions: {id-token: write}\n    runs-on:"
    )
    assert _judge_workflow(_with_workflow(tmp_path, by_job)).passed
    without = WORKFLOW.replace("id-token: write", "id-token: read")
    verdict = _judge_workflow(_with_workflow(tmp_path, without))
    assert not verdict.passed and "id-token: write" in verdict.message


def test_missing_workflow_fails_naming_the_step_it_breaks(tmp_path: Path) -> None:
    verdict = _judge_workflow(_commit(tmp_path, {"a": "1"}))
    assert not verdict.passed and RERUN in verdict.message


def test_workflow_that_does_not_parse_fails(tmp_path: Path) -> None:
    verdict = _judge_workflow(_with_workflow(tmp_path, "jobs: [unclosed\n"))
    assert not verdict.passed and "does not parse" in verdict.message


def test_unreadable_workflow_is_an_error(tmp_path: Path) -> None:
    root = _with_workflow(tmp_path, WORKFLOW)
    path = root / ".github/workflows/deploy-teams-mcp.yml"
    path.unlink()
    path.symlink_to("/etc/hostname")
    _commit(root, {})
    outcome = _read("github_workflow.definition", root, "deploy-teams-mcp.yml")
    assert outcome.error is not None and outcome.error.code == "UnreadableRepositoryFile"


def test_the_commit_is_listed_once_and_each_file_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import policycheck.sources.repository.checkout as source

    calls: list[str] = []
    real = source.run_git

    def counting(cwd: Path, *args: str, **kwargs: Any) -> bytes:
        calls.append(args[0])
        return real(cwd, *args, **kwargs)

    monkeypatch.setattr(source, "run_git", counting)
    repository = PlatformRepository(_commit(tmp_path, _layout()))
    for _ in range(3):
        assert repository.entry("infra/root.hcl") is not None
        assert repository.texts(["infra/root.hcl", "infra/main/shared/terragrunt.hcl"])
    assert calls.count("ls-tree") == 1 and calls.count("cat-file") == 1


def test_the_demo_writes_its_repository_beside_a_checkout_never_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout in /tmp/x must not stop the demo from writing /tmp/policycheck-demo-*
    (a fresh clone in /tmp made `make demo` exit 70); the checkout itself and the package
    stay refused."""
    from policycheck.demo import repository

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    monkeypatch.setattr(repository, "bundled_catalog_dir", lambda: checkout)
    beside = tmp_path / "policycheck-demo-scratch"
    beside.mkdir()
    assert repository.RepositoryWriter(beside).root == beside.resolve()
    for inside in (checkout / "scratch", Path(repository.__file__).parent):
        with pytest.raises(ValueError, match="refusing to write the demo's repository"):
            repository.RepositoryWriter(inside)
