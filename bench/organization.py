"""Memory of a run over an AWS Organization as it grows in accounts, not resources.

    .venv/bin/python bench/organization.py --accounts 25,100,300

moto on loopback holds an organisation of N member accounts tagged environment=prod, each
with one bucket, one table and one repository of the benchmark's names; `policycheck run
--org --role-name ROLE` audits them with the benchmark's checks (bench/run.py's fleet
policy, in prod). Prints, per size, the results, wall time, peak memory (the process
tree's PSS, as bench/run.py measures it) and the memory per account above the smallest
size. moto's own CPU sets the pace here (about 4 ms a request): the timings are not
comparable to the replay bench."""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3
import yaml
from run import FLEET_CHECKS, FLEET_GROUPS, REGION, REPO, timed

from policycheck.demo.server import moto_server, reset

ROLE = "policycheck-readonly"
#: moto's; never real ones.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def organisation(url: str, accounts: int) -> list[str]:
    """The organisation and its member accounts, each with the benchmark's three resources."""
    organizations = boto3.client("organizations", endpoint_url=url, region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    ids = []
    for index in range(accounts):
        status = organizations.create_account(
            AccountName=f"member-{index}",
            Email=f"member-{index}@example.invalid",
            Tags=[{"Key": "environment", "Value": "prod"}],
        )["CreateAccountStatus"]
        ids.append(status["AccountId"])
        _resources(url, status["AccountId"], index)
    return ids


def _resources(url: str, account_id: str, index: int) -> None:
    sts = boto3.client("sts", endpoint_url=url, region_name=REGION)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ROLE}", RoleSessionName="seed"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )
    session.client("s3", endpoint_url=url).create_bucket(
        Bucket=f"bench-bucket-{index}",
        CreateBucketConfiguration={"LocationConstraint": REGION},
    )
    session.client("dynamodb", endpoint_url=url).create_table(
        TableName=f"bench-table-{index}",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    session.client("ecr", endpoint_url=url).create_repository(repositoryName=f"bench-repo-{index}")


def write_policy(directory: Path) -> Path:
    """The benchmark's fleet checks, in prod: every account tagged environment=prod."""
    checks = [
        {"check": c, "resources": [group]} for group, ids in FLEET_CHECKS.items() for c in ids
    ]
    policy: dict[str, Any] = {
        "version": 1,
        "environments": {"prod": {"region": REGION, "org_account_tags": {"environment": "prod"}}},
        "resources": FLEET_GROUPS,
        "checks": checks,
    }
    (directory / "controls").symlink_to(REPO / "controls")
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def measure(accounts: int, processes: str) -> tuple[int, float, int]:
    """Results, wall seconds and peak MiB of one audit of ``accounts`` member accounts."""
    with tempfile.TemporaryDirectory() as scratch, moto_server() as url:
        directory = Path(scratch)
        reset(url)  # moto's state is this process's: the previous size's organisation
        organisation(url, accounts)
        policy = write_policy(directory)
        out = directory / "out"
        command = [sys.executable, "-m", "policycheck", "run", "--policy", str(policy)]
        command += ["--endpoint-url", url, "--org", "--role-name", ROLE, "--output-dir", str(out)]
        command += ["--format", "json", "--fail-on", "none", "--processes", processes]
        env = {**os.environ, **CREDENTIALS}
        seconds, mib, code = timed(command, env)
        if code != 0:
            raise SystemExit(f"policycheck exited {code} at {accounts} accounts")
        report = json.loads((out / "report.json").read_text())
        return len(report["results"]), seconds, mib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="25,100,300", help="sizes, comma-separated")
    parser.add_argument("--processes", default="1", help="policycheck's --processes")
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)  # this process seeds moto
    sizes = sorted(int(size) for size in args.accounts.split(","))
    print(f"{'accounts':>8}  {'results':>7}  {'wall s':>7}  {'peak MiB':>8}  MiB per account")
    first: tuple[int, int] | None = None
    for accounts in sizes:
        results, seconds, mib = measure(accounts, args.processes)
        first = first or (accounts, mib)
        extra = (mib - first[1]) / (accounts - first[0]) if accounts > first[0] else 0.0
        print(f"{accounts:>8}  {results:>7}  {seconds:>7.2f}  {mib:>8}  {extra:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
