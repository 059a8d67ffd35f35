"""Least privilege: the IAM policy covers every AWS operation a full run makes."""

import json

from policycheck.iam.generator import readonly_policy, required_actions
from policycheck.plugin.registry import load_registry
from policycheck.policy.load import load_policy
from support.harness import POLICY_PATH, REPO, RecordedRun, run_cli

#: Operations whose IAM action is named differently (AWS service authorization reference).
RENAMED = {
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}


def test_shipped_policy_is_current() -> None:
    result = run_cli("iam-policy", "--policy", REPO / "policy.yaml")
    assert result.returncode == 0
    shipped = json.loads((REPO / "iam" / "policycheck-readonly.json").read_text())
    assert json.loads(result.stdout) == shipped


def test_checks_option_and_dependencies() -> None:
    actions = required_actions(["dynamodb-encryption-at-rest"], load_registry())
    assert actions == ["dynamodb:DescribeTable", "kms:DescribeKey", "kms:ListAliases"]
    result = run_cli("iam-policy", "--checks", "s3-versioning-enabled")
    assert json.loads(result.stdout)["Statement"][0]["Action"] == ["s3:GetBucketVersioning"]
    assert run_cli("iam-policy", "--checks", "nope").returncode == 2


def test_every_operation_of_a_full_run_is_allowed(recorded_full_run: RecordedRun) -> None:
    report, policy = recorded_full_run.report, load_policy(POLICY_PATH)
    assert report.summary.status == "pass"
    called = {
        RENAMED.get((c.service, c.operation), f"{c.signing_name}:{c.operation}")
        for c in recorded_full_run.calls
    }
    bound = [b.check.id for b in policy.bindings] + ["s3-cross-region-replication"]
    document = readonly_policy(bound, policy.registry)
    allowed = set(document["Statement"][0]["Action"])
    assert called - NO_PERMISSION_NEEDED <= allowed, called - NO_PERMISSION_NEEDED - allowed
    assert len(called) > 20  # the run really exercised the collectors
