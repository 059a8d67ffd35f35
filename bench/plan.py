"""Benchmark `policycheck plan` on a large Terraform plan.

    .venv/bin/python bench/plan.py                   # 5,000 resources, median of 3 runs
    .venv/bin/python bench/plan.py --buckets 20 --tables 10 --repos 10 --runs 1

Writes a plan in Terraform's JSON output format (tests/support/planbuilder.py): buckets in a
for_each module, each with its split versioning, encryption, public-access block,
lifecycle and policy resources (6 resources), tables by for_each, repositories and their
lifecycle policies by count; settings mixed as bench/run.py mixes them, with the ground
truth written down. Then times the real command (warm-up, then the median of --runs) with
a policy naming them by pattern, and checks every verdict against the ground truth. The
target is under 5 s for 5,000 resources on these machines. No AWS, no network.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

from run import keep_tagged_policy, write_policy  # noqa: E402  (bench/run.py's policy: the same nine checks)

from support.planbuilder import ACCOUNT, REGION, PlanBuilder, ref  # noqa: E402

BUCKET_CHECKS = (
    "s3-versioning-enabled",
    "s3-encryption-at-rest",
    "s3-public-access-blocked",
    "s3-lifecycle-archive-and-expire",
    "s3-policy-denies-delete",
)


def _bucket(plan: PlanBuilder, i: int, truth: dict[str, str]) -> None:
    name = f"bench-bucket-{i:04d}"
    module = f'module.bucket["{name}"]'
    versioned, encrypted, blocked, denies = i % 3 != 0, i % 4 != 0, i % 5 != 0, i % 7 != 0
    owner = {"bucket": ref("aws_s3_bucket.this.id")}
    plan.add(
        module,
        "aws_s3_bucket",
        "this",
        {
            "bucket": name,
            "arn": f"arn:aws:s3:::{name}",
            "versioning": [{"enabled": versioned, "mfa_delete": False}],
            "server_side_encryption_configuration": [],
            "lifecycle_rule": [],
            "policy": "",
        },
        expressions={"bucket": ref("each.key")},
    )
    status = "Enabled" if versioned else "Suspended"
    plan.add(
        module,
        "aws_s3_bucket_versioning",
        "this",
        {
            "bucket": name,
            "versioning_configuration": [{"status": status, "mfa_delete": "Disabled"}],
        },
        expressions=owner,
    )
    if encrypted:
        rule = {
            "apply_server_side_encryption_by_default": [
                {"sse_algorithm": "AES256", "kms_master_key_id": None}
            ],
            "bucket_key_enabled": None,
        }
        plan.add(
            module,
            "aws_s3_bucket_server_side_encryption_configuration",
            "this",
            {"bucket": name, "rule": [rule]},
            expressions=owner,
        )
    flags = (
        "block_public_acls",
        "ignore_public_acls",
        "block_public_policy",
        "restrict_public_buckets",
    )
    values = {flag: blocked or flag != "restrict_public_buckets" for flag in flags}
    plan.add(
        module,
        "aws_s3_bucket_public_access_block",
        "this",
        {"bucket": name, **values},
        expressions=owner,
    )
    if i % 2 == 0:
        rule = {
            "id": "audit",
            "status": "Enabled",
            "prefix": "",
            "filter": [{"prefix": ""}],
            "transition": [{"days": 90, "date": None, "storage_class": "GLACIER"}],
            "expiration": [
                {
                    "days": 365 if i % 4 == 0 else 180,
                    "date": None,
                    "expired_object_delete_marker": False,
                }
            ],
        }
        plan.add(
            module,
            "aws_s3_bucket_lifecycle_configuration",
            "this",
            {"bucket": name, "rule": [rule]},
            expressions=owner,
        )
    if denies:
        statement = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": f"arn:aws:s3:::{name}/*",
        }
        plan.add(
            module,
            "aws_s3_bucket_policy",
            "this",
            {"bucket": name, "policy": json.dumps({"Statement": [statement]})},
            expressions=owner,
        )
    # One without an encryption configuration has the SSE-S3 S3 applies since 2023: passes.
    for check, passed in zip(
        BUCKET_CHECKS, (versioned, True, blocked, i % 4 == 0, denies), strict=True
    ):
        truth[f"{check}|{name}"] = "pass" if passed else "fail"


def write_plan(path: Path, buckets: int, tables: int, repos: int) -> tuple[int, dict[str, str]]:
    """The plan file; its number of resources and the ground truth (check|name -> status)."""
    plan, truth = PlanBuilder(), {}
    plan.call("module.bucket", "./bucket", for_each_expression=ref("var.buckets"))
    for i in range(buckets):
        _bucket(plan, i, truth)
    for i in range(tables):
        name = f"bench-table-{i:03d}"
        pitr, ttl = i % 2 == 0, i % 3 != 0
        plan.add(
            "",
            "aws_dynamodb_table",
            "tables",
            {
                "name": name,
                "arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
                "hash_key": "pk",
                "attribute": [{"name": "pk", "type": "S"}],
                "point_in_time_recovery": [
                    {"enabled": pitr, "recovery_period_in_days": 35 if pitr else 0}
                ],
                "ttl": [{"enabled": ttl, "attribute_name": "expires_at" if ttl else ""}],
                "server_side_encryption": [],
            },
            index=name,
            for_each_expression=ref("var.tables"),
        )
        truth[f"dynamodb-pitr-enabled|{name}"] = "pass" if pitr else "fail"
        truth[f"dynamodb-ttl-enabled|{name}"] = "pass" if ttl else "fail"
    for i in range(repos):
        name, keep = f"bench-repo-{i:03d}", 10 if i % 2 == 0 else 5
        plan.add(
            "",
            "aws_ecr_repository",
            "repos",
            {"name": name},
            index=i,
            count_expression={"constant_value": repos},
        )
        policy = keep_tagged_policy(keep)
        plan.add(
            "",
            "aws_ecr_lifecycle_policy",
            "repos",
            {"repository": name, "policy": json.dumps(policy)},
            index=i,
            expressions={"repository": ref("aws_ecr_repository.repos.name")},
        )
        truth[f"ecr-lifecycle-retains-tagged|{name}"] = "pass" if keep == 10 else "fail"
        truth[f"ecr-image-available|{name}"] = "not_assessed"  # a plan cannot show images
    path.write_text(json.dumps(plan.document()))
    return len(plan.resources), truth


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, completed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # 700 buckets make 3,575 resources (not every one has encryption, a lifecycle or a
    # policy), 725 tables and 350 repositories with their lifecycle policies the rest.
    parser.add_argument("--buckets", type=int, default=700)
    parser.add_argument("--tables", type=int, default=725)
    parser.add_argument("--repos", type=int, default=350)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        plan = directory / "plan.json"
        resources, truth = write_plan(plan, args.buckets, args.tables, args.repos)
        policy = write_policy(directory)
        command = [
            sys.executable,
            "-m",
            "policycheck",
            "plan",
            str(plan),
            "--policy",
            str(policy),
            "-o",
            str(directory / "out"),
            "--format",
            "json,markdown",
        ]
        timed(command)  # warm-up (imports, caches)
        runs = [timed(command) for _ in range(args.runs)]
        seconds = statistics.median(t for t, _ in runs)
        completed = runs[-1][1]
        if completed.returncode not in (0, 1):
            print(completed.stderr, file=sys.stderr)
            return 1
        report = json.loads((directory / "out" / "report.json").read_text())
        verdicts = {
            f"{r['check_id']}|{r['resource']['name']}": r["status"] for r in report["results"]
        }
        agree = sum(verdicts.get(key) == status for key, status in truth.items())
        size = plan.stat().st_size / 2**20
    print(f"plan: {resources:,} resources, {size:.1f} MiB; {len(verdicts):,} results")
    each = ", ".join(f"{t:.2f}" for t, _ in runs)
    print(f"policycheck plan: {seconds:.2f} s (median of {args.runs}; runs {each})")
    print(f"agreement with ground truth: {100 * agree / len(truth):.1f}% of {len(truth)} verdicts")
    return 0 if agree == len(truth) == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
