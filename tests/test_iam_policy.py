"""Least privilege: the IAM policy covers every AWS operation a full run makes."""

import json

from conftest import REPO, MotoServer, Workspace, run_cli
from policycheck.controls import load_catalog
from policycheck.demo.seeding import demo_session, seed
from policycheck.iampolicy import readonly_policy, required_actions
from policycheck.planning import select
from policycheck.plugins import load_registry
from policycheck.runner import RunOptions, run_audit

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


def test_every_operation_of_a_full_run_is_allowed(moto: MotoServer, workspace: Workspace) -> None:
    workspace.edit(
        lambda d: d["checks"].append(
            {"check": "s3-cross-region-replication", "resources": ["audit_bucket"]}
        )
    )
    policy = workspace.policy
    catalog = load_catalog(workspace.directory / "controls")
    seed(policy, moto.url)
    called: set[str] = set()

    def record(model, **_: object) -> None:
        service = model.service_model.service_name
        prefix = model.service_model.signing_name
        called.add(RENAMED.get((service, model.name), f"{prefix}:{model.name}"))

    session = demo_session("eu-central-1")
    session.events.register("before-call", record)
    report = run_audit(
        policy,
        catalog,
        select(policy, catalog),
        RunOptions(endpoint_url=moto.url, session_factory=lambda r: session),
    )
    assert report.summary.status == "pass"
    document = readonly_policy([b.check.id for b in policy.bindings], policy.registry)
    allowed = set(document["Statement"][0]["Action"])
    assert called - NO_PERMISSION_NEEDED <= allowed, called - NO_PERMISSION_NEEDED - allowed
    assert len(called) > 20  # the run really exercised the collectors
