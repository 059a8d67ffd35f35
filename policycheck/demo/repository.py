"""The demo's platform repository: the repository checks' example calls (service
``repository``) write a Terragrunt layout, the files the recovery plan names and its
workflows into a scratch git repository, each call one commit.

One repository serves every environment, as the real one does: values that name the
environment are written with ``${local.env}`` (``get_env("TG_ENV")``), so that each
environment's call writes the same files."""

import json
import subprocess
from pathlib import Path
from typing import Any

from policycheck.paths import bundled_catalog_dir

GIT_IDENTITY = ("-c", "user.name=policycheck demo", "-c", "user.email=demo@example.invalid")
ROOT_CONFIG = "root.hcl"
INCLUDE_ROOT = 'include "root" {\n  path = find_in_parent_folders("root.hcl")\n}\n'


def git(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=directory, check=True, capture_output=True, text=True
    )


def _hcl(value: Any, environment: str) -> str:
    if isinstance(value, str):
        return json.dumps(value).replace(environment, "${local.env}")
    return json.dumps(value)


def _workflow(name: str, oidc: bool) -> str:
    if oidc:
        credentials = "          role-to-assume: arn:aws:iam::111111111111:role/deploy\n"
        permissions = "permissions:\n  id-token: write\n  contents: read\n"
    else:
        credentials = (
            "          aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}\n"
            "          aws-secret-access-key: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n"
        )
        permissions = "permissions:\n  contents: read\n"
    return (
        f"name: {name}\non:\n  push:\n    branches: [main]\n  workflow_dispatch: {{}}\n"
        f"{permissions}jobs:\n  run:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - uses: aws-actions/configure-aws-credentials@v4\n        with:\n"
        f"{credentials}          aws-region: eu-central-1\n"
    )


class RepositoryWriter:
    """Writes and commits files under ``root`` (a git repository of its own if it is in
    none); never into policycheck's own files."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        own = (bundled_catalog_dir().resolve(), Path(__file__).resolve().parents[1])
        if any(self.root.is_relative_to(files) for files in own):
            raise ValueError(f"refusing to write the demo's repository into {self.root}")

    def _commit(self, files: dict[str, str], message: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ".git").exists():
            git(self.root, "init", "--quiet")
        for path, text in files.items():
            target = self.root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            git(self.root, "add", "--", path)
        staged = subprocess.run(
            ["git", "diff", "--cached", "--quiet"], cwd=self.root, check=False
        ).returncode
        if staged:
            git(self.root, "commit", "--quiet", "-m", message)

    def add_path(self, path: str, kind: str) -> None:
        """A file, or a directory holding a Terragrunt module that includes the root."""
        if kind == "file":
            self._commit({path: "# demo\n"}, f"add {path}")
        else:
            self._commit({f"{path}/terragrunt.hcl": INCLUDE_ROOT}, f"add module {path}")

    def write_backend(self, tree: str, config: dict[str, Any], environment: str) -> None:
        """The tree's root configuration: a remote_state block with ``config``."""
        settings = "".join(
            f"    {key} = {_hcl(value, environment)}\n" for key, value in config.items()
        )
        root = (
            'locals {\n  env = get_env("TG_ENV")\n}\n'
            'remote_state {\n  backend = "s3"\n'
            '  generate = { path = "backend.tf", if_exists = "overwrite_terragrunt" }\n'
            "  config = {\n"
            '    key = "${path_relative_to_include()}/terraform.tfstate"\n'
            f"{settings}  }}\n}}\n"
        )
        self._commit({f"{tree}/{ROOT_CONFIG}": root}, f"{tree}: remote_state")

    def add_workflow(self, name: str, oidc: bool) -> None:
        self._commit({f".github/workflows/{name}": _workflow(name, oidc)}, f"workflow {name}")
