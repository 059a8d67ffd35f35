"""The commands a CI adoption builds on: the environments of the policy as a matrix, and
the trust policy of the role GitHub Actions assumes."""

import json

import pytest

from support.harness import Workspace, run_cli


def test_environments_as_json_from_the_policy(workspace: Workspace) -> None:
    def change(d: dict) -> None:
        for bucket in ("state_bucket", "audit_bucket"):  # one bucket lives in one region
            d["resources"][bucket]["name"] += "-{region}"
        d["environments"].update(
            prod={
                "regions": ["eu-west-1", "eu-central-1"],
                "accounts": [
                    {
                        "account_id": "222222222222",
                        "role_arn": "arn:aws:iam::222222222222:role/policycheck-readonly",
                    },
                    {"account_id": "333333333333"},
                ],
            }
        )

    workspace.edit(change)
    result = run_cli("environments", "--json", "--policy", workspace.policy_path)
    assert result.returncode == 0, result.stderr
    dev, prod = json.loads(result.stdout)
    assert dev == {
        "name": "dev",
        "region": "eu-central-1",
        "regions": ["eu-central-1"],
        "account_id": None,
        "role_arn": None,
        "accounts": [],
    }
    assert prod["region"] == "eu-west-1" and prod["regions"] == ["eu-west-1", "eu-central-1"]
    assert prod["account_id"] == "222222222222"
    assert prod["role_arn"] == "arn:aws:iam::222222222222:role/policycheck-readonly"
    assert [a["account_id"] for a in prod["accounts"]] == ["222222222222", "333333333333"]
    table = run_cli("environments", "--policy", workspace.policy_path)
    assert "prod           eu-west-1, eu-central-1" in table.stdout


@pytest.mark.parametrize(
    ("args", "subject"),
    [
        (["--environment", "prod"], "repo:acme/platform:environment:prod"),
        ([], "repo:acme/platform:ref:refs/heads/main"),
    ],
)
def test_github_trust_policy(workspace: Workspace, args: list[str], subject: str) -> None:
    result = run_cli(
        "iam-policy",
        "--policy",
        workspace.policy_path,
        "--trust",
        "github",
        "--repo",
        "acme/platform",
        "--account-id",
        "111111111111",
        *args,
    )
    assert result.returncode == 0, result.stderr
    [statement] = json.loads(result.stdout)["Statement"]
    assert statement["Principal"] == {
        "Federated": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    }
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subject,
        }
    }


def test_trust_policy_takes_the_account_from_the_policy(workspace: Workspace) -> None:
    workspace.edit(lambda d: d["environments"]["prod"].update(account_id="444444444444"))
    result = run_cli(
        "iam-policy",
        "--policy",
        workspace.policy_path,
        "--trust",
        "github",
        "--repo",
        "acme/platform",
        "--environment",
        "prod",
    )
    assert result.returncode == 0, result.stderr
    assert ":iam::444444444444:oidc-provider/" in result.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--trust", "github"], "--trust github needs --repo OWNER/REPO"),
        (["--trust", "github", "--repo", "acme"], "expected OWNER/REPO"),
        (["--trust", "github", "--repo", "acme/platform"], "give --account-id (12 digits)"),
    ],
)
def test_trust_policy_input_errors(workspace: Workspace, args: list[str], said: str) -> None:
    result = run_cli("iam-policy", "--policy", workspace.policy_path, *args)
    assert result.returncode == 2
    assert said in result.stderr
