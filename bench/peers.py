"""The tools users would otherwise pick, run on the benchmark's fleet beside policycheck.

Each peer lives in its own venv under bench/.peers/ (never in policycheck's), installed
from PyPI on first use; a peer that cannot be installed is skipped with the reason. Their
policies ask for the same settings as the benchmark's checks, so each peer fetches what it
needs for them (and whatever else it always fetches).
"""

import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
INSTALL_TIMEOUT_S = 900

#: Cloud Custodian policies for the benchmark's nine settings (c7n has no TTL filter and
#: no "image exists" filter for ECR; those two are not asked of it).
CUSTODIAN_POLICY = {
    "policies": [
        {
            "name": "s3-versioning-disabled",
            "resource": "aws.s3",
            "filters": [
                {"type": "value", "key": "Versioning.Status", "value": "Enabled", "op": "ne"}
            ],
        },
        {
            "name": "s3-unencrypted",
            "resource": "aws.s3",
            "filters": [{"type": "bucket-encryption", "state": False}],
        },
        {
            "name": "s3-public-access-not-blocked",
            "resource": "aws.s3",
            "filters": [
                {
                    "or": [
                        {"type": "check-public-block", flag: False}
                        for flag in (
                            "BlockPublicAcls",
                            "IgnorePublicAcls",
                            "BlockPublicPolicy",
                            "RestrictPublicBuckets",
                        )
                    ]
                }
            ],
        },
        {
            "name": "s3-no-lifecycle",
            "resource": "aws.s3",
            "filters": [{"type": "value", "key": "Lifecycle.Rules", "value": "absent"}],
        },
        {
            "name": "s3-policy-allows-delete",
            "resource": "aws.s3",
            "filters": [
                {
                    "not": [
                        {
                            "type": "has-statement",
                            "statements": [{"Effect": "Deny", "Action": "s3:DeleteObject"}],
                        }
                    ]
                }
            ],
        },
        {
            "name": "dynamodb-pitr-disabled",
            "resource": "aws.dynamodb-table",
            "filters": [
                {
                    "type": "continuous-backup",
                    "key": "PointInTimeRecoveryDescription.PointInTimeRecoveryStatus",
                    "value": "ENABLED",
                    "op": "ne",
                }
            ],
        },
        {
            "name": "ecr-no-lifecycle",
            "resource": "aws.ecr",
            "filters": [{"type": "lifecycle-rule", "state": False}],
        },
    ]
}

#: Prowler's checks for the same settings.
PROWLER_CHECKS = (
    "s3_bucket_object_versioning",
    "s3_bucket_default_encryption",
    "s3_bucket_level_public_access_block",
    "s3_bucket_lifecycle_enabled",
    "dynamodb_tables_pitr_enabled",
    "ecr_repositories_lifecycle_policy_enabled",
)


@dataclass(frozen=True)
class Peer:
    name: str
    package: str
    executable: str
    #: (executable, scratch directory, region) -> the command line.
    command: Callable[[Path, Path, str], list[str]]


def _custodian(executable: Path, scratch: Path, region: str) -> list[str]:
    policy = scratch / "custodian.yml"
    policy.write_text(yaml.safe_dump(CUSTODIAN_POLICY, sort_keys=False))
    cache = scratch / "custodian.cache"
    # c7n shares what it fetched between the policies of a run through its cache file
    # (kept 15 minutes); each run starts from an empty one, as a nightly job would.
    run = [str(executable), "run", "--cache", str(cache), "-s", str(scratch / "custodian-out")]
    command = shlex.join([*run, "--region", region, str(policy)])
    return ["sh", "-c", f"rm -f {shlex.quote(str(cache))} && exec {command}"]


def _prowler(executable: Path, scratch: Path, region: str) -> list[str]:
    return [
        str(executable),
        "aws",
        "--region",
        region,
        "--checks",
        *PROWLER_CHECKS,
        "--output-formats",
        "json-ocsf",
        "--output-directory",
        str(scratch / "prowler-out"),
        "--ignore-exit-code-3",
        "--no-banner",
    ]


PEERS = {
    peer.name: peer
    for peer in (
        Peer("custodian", "c7n", "custodian", _custodian),
        Peer("prowler", "prowler", "prowler", _prowler),
    )
}


def install(peer: Peer) -> Path | str:
    """The peer's executable, installing it into its own venv if needed; or why not."""
    venv = PEERS_DIR / peer.name
    executable = venv / "bin" / peer.executable
    if executable.exists():
        return executable
    print(f"installing {peer.package} into {venv} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        completed = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", peer.package],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot install {peer.package}: {exc}"
    if completed.returncode != 0 or not executable.exists():
        return f"pip install {peer.package} failed: {completed.stderr.strip()[-300:]}"
    return executable
