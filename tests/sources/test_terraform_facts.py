"""Facts read from plans, resource type by resource type, in the collectors' shapes:
what each argument becomes, what a plan leaves unknown, what it deletes, what it lacks."""

import json
from pathlib import Path
from typing import Any

import pytest

from policycheck.plugin.registry import load_registry
from policycheck.sources.terraform.common import Subject
from policycheck.sources.terraform.planfile import PlanFile
from policycheck.sources.terraform.state import (
    Instance,
    PlanState,
    Unknowable,
    build_states,
    overlay,
)
from support.planbuilder import ACCOUNT, REGION, PlanBuilder, const, ref


def states(plan: PlanBuilder) -> tuple[PlanState, PlanState]:
    document = json.loads(json.dumps(plan.document()))
    return build_states([PlanFile(Path("plan.json"), "0" * 64, "1.9.8", "1.2", document)])


def fact(
    state: PlanState, name: str, subject: str = "", parent: str = "", tf_type: str = ""
) -> Any:
    resource = None
    if tf_type:
        attr = "bucket" if tf_type == "aws_s3_bucket" else "name"
        [resource] = state.named(tf_type, attr, subject)
    reader = load_registry().plan.facts[name]
    return reader.read(state, Subject(subject, parent, ACCOUNT, REGION, resource))


def bucket_plan(**blocks: Any) -> PlanBuilder:
    """A bucket with only its own (legacy) blocks: the AWS provider before 4.0."""
    plan = PlanBuilder()
    plan.add("", "aws_s3_bucket", "logs", {"bucket": "logs", "arn": "arn:aws:s3:::logs", **blocks})
    return plan


def test_overlay_marks_unknown_and_sensitive() -> None:
    tree = overlay(
        {"a": 1, "b": [{"c": 2}], "s": "x"}, {"b": [{"d": True}], "e": True}, {"s": True}
    )
    assert tree["a"] == 1 and tree["b"][0]["c"] == 2
    assert repr(tree["b"][0]["d"]) == "<known after apply>" and repr(tree["s"]) == "<sensitive>"
    assert repr(tree["e"]) == "<known after apply>"


def test_legacy_bucket_blocks() -> None:
    """Versioning, encryption, lifecycle and policy from the bucket's own blocks."""
    policy = {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:Delete*"}]}
    plan = bucket_plan(
        versioning=[{"enabled": True, "mfa_delete": False}],
        server_side_encryption_configuration=[
            {
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": "aws:kms", "kms_master_key_id": "k"}
                        ],
                        "bucket_key_enabled": True,
                    }
                ]
            }
        ],
        lifecycle_rule=[
            {
                "id": "archive",
                "enabled": True,
                "prefix": "",
                "tags": {},
                "abort_incomplete_multipart_upload_days": 0,
                "expiration": [{"date": "", "days": 365, "expired_object_delete_marker": False}],
                "transition": [{"date": "", "days": 90, "storage_class": "GLACIER"}],
                "noncurrent_version_expiration": [{"days": 400}],
                "noncurrent_version_transition": [],
            },
            {
                "id": "tagged",
                "enabled": False,
                "prefix": "tmp/",
                "tags": {"k": "v"},
                "expiration": [],
                "transition": [],
            },
        ],
        policy=json.dumps(policy),
    )
    after, _ = states(plan)
    read = lambda name: fact(after, name, "logs", tf_type="aws_s3_bucket")  # noqa: E731
    assert read("s3_bucket.versioning") == {"Status": "Enabled"}
    assert read("s3_bucket.encryption") == {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": "k",
                },
                "BucketKeyEnabled": True,
            }
        ]
    }
    assert read("s3_bucket.lifecycle") == [
        {
            "Status": "Enabled",
            "ID": "archive",
            "Filter": {"Prefix": ""},
            "Expiration": {"Days": 365},
            "Transitions": [{"StorageClass": "GLACIER", "Days": 90}],
            "NoncurrentVersionExpiration": {"NoncurrentDays": 400},
        },
        {
            "Status": "Disabled",
            "ID": "tagged",
            "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "k", "Value": "v"}]}},
        },
    ]
    assert read("s3_bucket.policy") == policy
    assert read("s3_bucket.public_access_block") is None  # not in the plan: not configured


def test_a_new_bucket_that_sets_nothing_gets_s3s_defaults() -> None:
    """Created, its computed legacy blocks unknown and unset: not versioned, SSE-S3, no
    lifecycle, no policy; one that sets a block it does not know yet is unknown."""
    plan = PlanBuilder()
    unknown = {
        k: True
        for k in (
            "versioning",
            "server_side_encryption_configuration",
            "lifecycle_rule",
            "policy",
            "arn",
            "id",
        )
    }
    plan.add(
        "",
        "aws_s3_bucket",
        "new",
        {"bucket": "new"},
        action="create",
        unknown=unknown,
        expressions={"bucket": const("new")},
    )
    after, before = states(plan)
    read = lambda name: fact(after, name, "new", tf_type="aws_s3_bucket")  # noqa: E731
    assert read("s3_bucket.versioning") == {}
    assert read("s3_bucket.encryption") == {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert read("s3_bucket.lifecycle") is None and read("s3_bucket.policy") is None
    assert before.named("aws_s3_bucket", "bucket", "new") == []
    plan = PlanBuilder()
    plan.add(
        "",
        "aws_s3_bucket",
        "new",
        {"bucket": "new"},
        action="create",
        unknown=unknown,
        expressions={"bucket": const("new"), "versioning": [{"enabled": ref("var.on")}]},
    )
    with pytest.raises(
        Unknowable, match=r"aws_s3_bucket.new: versioning is known only after apply"
    ):
        fact(states(plan)[0], "s3_bucket.versioning", "new", tf_type="aws_s3_bucket")


def test_split_lifecycle_filters_and_noncurrent_rules() -> None:
    plan = bucket_plan(lifecycle_rule=[])
    rule = {
        "id": "scoped",
        "status": "Enabled",
        "prefix": "",
        "filter": [
            {
                "prefix": "",
                "object_size_greater_than": 1024,
                "object_size_less_than": None,
                "tag": [{"key": "k", "value": "v"}],
                "and": [],
            }
        ],
        "expiration": [
            {"date": "2030-01-01T00:00:00Z", "days": None, "expired_object_delete_marker": None}
        ],
        "transition": [],
        "noncurrent_version_expiration": [{"noncurrent_days": 30, "newer_noncurrent_versions": 3}],
        "noncurrent_version_transition": [
            {"noncurrent_days": 10, "newer_noncurrent_versions": None, "storage_class": "GLACIER"}
        ],
        "abort_incomplete_multipart_upload": [],
    }
    plan.add(
        "", "aws_s3_bucket_lifecycle_configuration", "logs", {"bucket": "logs", "rule": [rule]}
    )
    after, _ = states(plan)
    assert fact(after, "s3_bucket.lifecycle", "logs", tf_type="aws_s3_bucket") == [
        {
            "Status": "Enabled",
            "ID": "scoped",
            "Filter": {"ObjectSizeGreaterThan": 1024, "Tag": {"Key": "k", "Value": "v"}},
            "Expiration": {"Date": "2030-01-01T00:00:00Z"},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30, "NewerNoncurrentVersions": 3},
            "NoncurrentVersionTransitions": [{"StorageClass": "GLACIER", "NoncurrentDays": 10}],
        }
    ]


def test_two_resources_configuring_one_bucket_are_ambiguous() -> None:
    plan = bucket_plan()
    for name in ("a", "b"):
        plan.add(
            "",
            "aws_s3_bucket_versioning",
            name,
            {"bucket": "logs", "versioning_configuration": [{"status": "Enabled"}]},
        )
    with pytest.raises(Unknowable, match=r"configured more than once: aws_s3_bucket_versioning\.a"):
        fact(states(plan)[0], "s3_bucket.versioning", "logs", tf_type="aws_s3_bucket")


def test_a_policy_from_a_data_source_read_at_apply_is_unknown() -> None:
    """A document the plan defers (read at apply) leaves the policy unknown."""
    with pytest.raises(
        Unknowable, match=r"data.aws_iam_policy_document.p: json is known only after apply"
    ):
        _policy_from_deferred_document({}, {})


def _policy_from_deferred_document(values: dict[str, Any], unknown: dict[str, Any]) -> Any:
    """The policy of a bucket whose aws_iam_policy_document Terraform reads at apply (its
    json unknown), with these values and unknowns."""
    plan = bucket_plan()
    plan.add("", "aws_iam_policy_document", "p", values, mode="data", action="read")
    plan.resources[-1].unknown = {"json": True, **unknown}
    plan.add(
        "",
        "aws_s3_bucket_policy",
        "logs",
        {"bucket": "logs"},
        unknown={"policy": True},
        action="update",
        before={"bucket": "logs", "policy": "{}"},
        expressions={"policy": ref("data.aws_iam_policy_document.p.json")},
    )
    return fact(states(plan)[0], "s3_bucket.policy", "logs", tf_type="aws_s3_bucket")


def test_a_deferred_policy_document_is_built_from_its_statements() -> None:
    """Terraform reads a policy document at apply when a resource it refers to changes
    (read_because_dependency_pending): its json is unknown, its statement arguments are
    known, and make the document the provider renders. One whose statements are unknown,
    or that merges other documents, stays unknown."""
    statement = {
        "sid": "DenyDelete",
        "effect": "Deny",
        "actions": ["s3:DeleteObjectVersion", "s3:DeleteObject"],
        "not_actions": None,
        "resources": ["arn:aws:s3:::logs/*"],
        "not_resources": None,
        "principals": [{"type": "*", "identifiers": ["*"]}],
        "not_principals": [],
        "condition": [
            {"test": "StringNotEquals", "variable": "aws:PrincipalAccount", "values": ["1"]}
        ],
    }
    document = {
        "statement": [statement],
        "version": None,
        "source_policy_documents": None,
        "override_policy_documents": None,
    }

    read = _policy_from_deferred_document
    assert read(document, {}) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Sid": "DenyDelete",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": ["arn:aws:s3:::logs/*"],
                "Principal": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ["1"]}},
            }
        ],
    }
    with pytest.raises(Unknowable, match=r"p: statement is known only after apply"):
        read(document, {"statement": [{"resources": True}]})
    with pytest.raises(Unknowable, match="it merges source_policy_documents"):
        read({**document, "source_policy_documents": ["{}"]}, {})


def _table(plan: PlanBuilder, **values: Any) -> None:
    plan.add(
        "",
        "aws_dynamodb_table",
        "t",
        {"name": "t", "hash_key": "pk", "attribute": [{"name": "pk", "type": "S"}], **values},
        expressions={
            "server_side_encryption": [
                {
                    "enabled": const(True),
                    **(
                        {"kms_key_arn": ref("aws_kms_key.k.arn")}
                        if "kms" in values.get("tags", {})
                        else {}
                    ),
                }
            ]
        },
    )


def test_table_keys() -> None:
    """The key of a table: AWS owned without encryption, AWS managed without a key (the
    provider leaves kms_key_arn empty), customer managed for an aws_kms_key of the plan
    (also one created, by reference), the data source's word, else unknown."""
    cases = [
        ({"server_side_encryption": []}, None, None),
        ({"server_side_encryption": [{"enabled": True, "kms_key_arn": ""}]}, "AWS", None),
        (
            {
                "server_side_encryption": [
                    {
                        "enabled": True,
                        "kms_key_arn": "arn:aws:kms:eu-central-1:1:alias/aws/dynamodb",
                    }
                ]
            },
            "AWS",
            None,
        ),
        (
            {
                "server_side_encryption": [
                    {"enabled": True, "kms_key_arn": "arn:aws:kms:x:1:key/mine"}
                ]
            },
            "CUSTOMER",
            "mine",
        ),
        (
            {
                "server_side_encryption": [
                    {"enabled": True, "kms_key_arn": "arn:aws:kms:x:1:key/data"}
                ]
            },
            "AWS",
            "data",
        ),
        (
            {
                "server_side_encryption": [
                    {"enabled": True, "kms_key_arn": "arn:aws:kms:x:1:key/other"}
                ]
            },
            "error",
            None,
        ),
    ]
    for values, manager, key in cases:
        plan = PlanBuilder()
        _table(plan, **values)
        if key == "mine":
            plan.add("", "aws_kms_key", "k", {"arn": "arn:aws:kms:x:1:key/mine"})
        if key == "data":
            plan.add(
                "",
                "aws_kms_key",
                "d",
                {"arn": "arn:aws:kms:x:1:key/data", "key_manager": "AWS"},
                mode="data",
            )
        after, _ = states(plan)
        if manager == "error":
            with pytest.raises(
                Unknowable, match="who manages KMS key arn:aws:kms:x:1:key/other cannot be told"
            ):
                fact(after, "dynamodb_table.kms_key", "t", tf_type="aws_dynamodb_table")
            continue
        found = fact(after, "dynamodb_table.kms_key", "t", tf_type="aws_dynamodb_table")
        assert (found or {}).get("KeyManager") == manager, values
    plan = PlanBuilder()
    _table(plan, server_side_encryption=[{"enabled": True}], tags={"kms": "yes"})
    plan.resources[-1].unknown = {"server_side_encryption": [{"kms_key_arn": True}]}
    plan.add("", "aws_kms_key", "k", {"description": "new"}, action="create", unknown={"arn": True})
    after, _ = states(plan)
    assert fact(after, "dynamodb_table.kms_key", "t", tf_type="aws_dynamodb_table") == {
        "Arn": "aws_kms_key.k",
        "KeyManager": "CUSTOMER",
    }


def test_pitr_period_and_ttl() -> None:
    plan = PlanBuilder()
    _table(plan, point_in_time_recovery=[{"enabled": True, "recovery_period_in_days": 7}], ttl=[])
    after, _ = states(plan)
    assert fact(after, "dynamodb_table.continuous_backups", "t", tf_type="aws_dynamodb_table")[
        "PointInTimeRecoveryDescription"
    ] == {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": 7}
    assert fact(after, "dynamodb_table.ttl", "t", tf_type="aws_dynamodb_table") == {
        "TimeToLiveStatus": "DISABLED"
    }
    plan = PlanBuilder()
    _table(plan, point_in_time_recovery=[])
    after, _ = states(plan)
    assert fact(after, "dynamodb_table.continuous_backups", "t", tf_type="aws_dynamodb_table")[
        "PointInTimeRecoveryDescription"
    ] == {"PointInTimeRecoveryStatus": "DISABLED"}


def test_pitr_unset_and_unknown_is_disabled_as_versioning_is() -> None:
    """Plan formats 0.1/0.2 write a block the configuration does not set only in
    after_unknown: AWS's default (PITR off) applies, a failure as for versioning, never an
    error; a block the configuration sets but is unknown stays an error."""
    plan = PlanBuilder()
    _table(plan)
    plan.resources[-1].unknown = {"point_in_time_recovery": True}
    after, _ = states(plan)
    assert fact(after, "dynamodb_table.continuous_backups", "t", tf_type="aws_dynamodb_table")[
        "PointInTimeRecoveryDescription"
    ] == {"PointInTimeRecoveryStatus": "DISABLED"}
    plan.blocks[("", "aws_dynamodb_table.t")]["expressions"] = {
        "name": const("t"),
        "point_in_time_recovery": [{"enabled": ref("var.pitr")}],
    }
    after, _ = states(plan)
    with pytest.raises(Unknowable, match="point_in_time_recovery is known only after apply"):
        fact(after, "dynamodb_table.continuous_backups", "t", tf_type="aws_dynamodb_table")


def _service(
    plan: PlanBuilder,
    *,
    role_arn: str | None = None,
    attach: str | None = None,
    statements: list | None = None,
) -> None:
    cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/c"
    plan.add(
        "", "aws_ecs_service", "s", {"name": "s", "cluster": cluster, "task_definition": "fam:2"}
    )
    plan.add(
        "",
        "aws_ecs_task_definition",
        "d",
        {
            "family": "fam",
            "task_role_arn": role_arn,
            "arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/fam:2",
        },
    )
    if role_arn:
        plan.add(
            "",
            "aws_iam_role",
            "r",
            {
                "name": role_arn.rsplit("/", 1)[-1],
                "arn": role_arn,
                "inline_policy": [],
                "managed_policy_arns": [],
            },
        )
    if statements is not None:
        plan.add(
            "",
            "aws_iam_role_policy",
            "p",
            {"role": "r", "name": "p", "policy": json.dumps({"Statement": statements})},
        )
    if attach:
        plan.add("", "aws_iam_role_policy_attachment", "a", {"role": "r", "policy_arn": attach})


def test_task_roles_of_a_cluster() -> None:
    allow = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    plan = PlanBuilder()
    _service(
        plan,
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
        statements=[allow],
        attach=f"arn:aws:iam::{ACCOUNT}:policy/mine",
    )
    plan.add(
        "",
        "aws_iam_policy",
        "mine",
        {
            "arn": f"arn:aws:iam::{ACCOUNT}:policy/mine",
            "policy": json.dumps(
                {"Statement": {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}}
            ),
        },
    )
    after, _ = states(plan)
    roles = fact(after, "ecs_cluster.task_roles", parent="c")
    assert roles["s"]["task_role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/r"
    assert [s["Source"] for s in roles["s"]["statements"]] == [
        "inline:p",
        f"arn:aws:iam::{ACCOUNT}:policy/mine",
    ]
    assert fact(after, "ecs_cluster.task_roles", parent="other") == {}
    plan = PlanBuilder()
    _service(plan)
    assert fact(states(plan)[0], "ecs_cluster.task_roles", parent="c")["s"] == {
        "task_definition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/fam:2",
        "task_role_arn": None,
        "statements": [],
    }


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (
            {
                "role_arn": f"arn:aws:iam::{ACCOUNT}:role/r",
                "attach": "arn:aws:iam::aws:policy/ReadOnlyAccess",
            },
            "policy arn:aws:iam::aws:policy/ReadOnlyAccess attached to role r is not in the plan",
        ),
        (
            {"role_arn": "arn:aws:iam::999999999999:role/r"},
            "task role arn:aws:iam::999999999999:role/r is in account 999999999999",
        ),
    ],
)
def test_task_roles_the_plan_cannot_tell(setup: dict, says: str) -> None:
    plan = PlanBuilder()
    _service(plan, **setup)
    with pytest.raises(Unknowable, match=says.replace(".", r"\.")):
        fact(states(plan)[0], "ecs_cluster.task_roles", parent="c")


def test_a_task_definition_outside_the_plan_is_unknown() -> None:
    plan = PlanBuilder()
    plan.add(
        "",
        "aws_ecs_service",
        "s",
        {"name": "s", "cluster": "c", "task_definition": "deployed-by-ci:41"},
    )
    with pytest.raises(Unknowable, match="task definition deployed-by-ci:41 is not in the plan"):
        fact(states(plan)[0], "ecs_cluster.task_roles", parent="c")


def test_firehose_destinations() -> None:
    """Extended S3 with a backup of all records; an HTTP endpoint backing up failed
    records only; Redshift's staging bucket."""

    def s3(bucket: str, interval: int) -> dict[str, Any]:
        return {
            "bucket_arn": f"arn:aws:s3:::{bucket}",
            "buffering_interval": interval,
            "buffering_size": 5,
            "kms_key_arn": None,
        }

    plan = PlanBuilder()
    plan.add(
        "",
        "aws_kinesis_firehose_delivery_stream",
        "a",
        {
            "name": "a",
            "destination": "extended_s3",
            "server_side_encryption": [],
            "extended_s3_configuration": [
                {
                    **s3("logs", 60),
                    "s3_backup_mode": "Enabled",
                    "s3_backup_configuration": [s3("copy", 300)],
                }
            ],
        },
    )
    plan.add(
        "",
        "aws_kinesis_firehose_delivery_stream",
        "b",
        {
            "name": "b",
            "destination": "http_endpoint",
            "server_side_encryption": [{"enabled": True, "key_type": "AWS_OWNED_CMK"}],
            "http_endpoint_configuration": [
                {"s3_backup_mode": "FailedDataOnly", "s3_configuration": [s3("logs", 900)]}
            ],
        },
    )
    plan.add(
        "",
        "aws_kinesis_firehose_delivery_stream",
        "c",
        {
            "name": "c",
            "destination": "redshift",
            "server_side_encryption": [],
            "redshift_configuration": [
                {"s3_backup_mode": "Disabled", "s3_configuration": [s3("stage", 60)]}
            ],
        },
    )
    streams = {s["name"]: s for s in fact(states(plan)[0], "s3_account.firehose_streams")}
    assert [
        (d["delivery"], d["BucketARN"], d["S3BackupMode"]) for d in streams["a"]["s3_destinations"]
    ] == [("primary", "arn:aws:s3:::logs", None), ("backup", "arn:aws:s3:::copy", "Enabled")]
    assert [
        (d["delivery"], d["destination_type"], d["S3BackupMode"])
        for d in streams["b"]["s3_destinations"]
    ] == [("backup", "HttpEndpoint", "FailedDataOnly")]
    assert streams["b"]["encryption"] == {"Status": "ENABLED", "KeyType": "AWS_OWNED_CMK"}
    assert [(d["delivery"], d["destination_type"]) for d in streams["c"]["s3_destinations"]] == [
        ("intermediate", "Redshift")
    ]


def test_account_public_access_block_and_parameters() -> None:
    plan = PlanBuilder()
    plan.add(
        "",
        "aws_s3_account_public_access_block",
        "a",
        {
            "account_id": ACCOUNT,
            "block_public_acls": True,
            "ignore_public_acls": True,
            "block_public_policy": True,
            "restrict_public_buckets": False,
        },
    )
    plan.add(
        "",
        "aws_ssm_parameter",
        "p",
        {
            "name": "/x",
            "type": "SecureString",
            "value": "s",
            "key_id": "alias/aws/ssm",
            "tier": "Standard",
        },
        sensitive={"value": True},
    )
    after, _ = states(plan)
    assert fact(after, "s3_account.public_access_block")["RestrictPublicBuckets"] is False
    assert fact(after, "ssm_parameter.description", "/x", tf_type="aws_ssm_parameter") == {
        "Name": "/x",
        "Type": "SecureString",
        "KeyId": "alias/aws/ssm",
        "Tier": "Standard",
    }
    assert fact(PlanState("after"), "s3_account.public_access_block") is None


def test_references_by_key_and_by_instance() -> None:
    """count/for_each: a reference with a key, or without one to the instance of the same
    key; configuration looked up without instance keys, in nested modules."""
    plan = PlanBuilder()
    plan.call("module.m", "./m", for_each_expression=ref("var.names"))
    for key in ("a", "b"):
        plan.add(
            f'module.m["{key}"]', "aws_ecr_repository", "r", {"name": f"repo-{key}"}, index=None
        )
        plan.add(
            f'module.m["{key}"]',
            "aws_ecr_lifecycle_policy",
            "p",
            {"policy": json.dumps({"rules": [key]})},
            action="create",
            unknown={"repository": True},
            expressions={"repository": ref("aws_ecr_repository.r.name")},
        )
    after, _ = states(plan)
    for key in ("a", "b"):
        assert fact(
            after, "ecr_repository.lifecycle_policy", f"repo-{key}", tf_type="aws_ecr_repository"
        ) == {"rules": [key]}
    instance: Instance = after.named("aws_ecr_repository", "name", "repo-a")[0]
    assert instance.module == 'module.m["a"]' and instance.config is not None


def test_a_fact_cites_exactly_the_resources_it_was_read_from() -> None:
    """Two created buckets, each with a public access block naming it by reference (known
    only after apply): each bucket's fact cites its own bucket and block, whichever is read
    first (was: the first lookup built the index and cited every bucket it resolved)."""
    plan = PlanBuilder()
    for name in ("alpha", "beta", "gamma"):
        plan.add(
            "",
            "aws_s3_bucket",
            name,
            {"bucket": name},
            action="create",
            unknown={"id": True, "arn": True},
            expressions={"bucket": const(name)},
        )
        plan.add(
            "",
            "aws_s3_bucket_public_access_block",
            name,
            {flag: True for flag in PUBLIC_ACCESS_ARGUMENTS},
            action="create",
            unknown={"bucket": True, "id": True},
            expressions={"bucket": ref(f"aws_s3_bucket.{name}.id")},
        )
    after, _ = states(plan)
    for name in ("beta", "alpha", "gamma"):
        with after.recording() as seen:
            assert fact(after, "s3_bucket.public_access_block", name, tf_type="aws_s3_bucket")
        assert sorted(i.address for i in seen) == [
            f"aws_s3_bucket.{name}",
            f"aws_s3_bucket_public_access_block.{name}",
        ]


PUBLIC_ACCESS_ARGUMENTS = (
    "block_public_acls",
    "ignore_public_acls",
    "block_public_policy",
    "restrict_public_buckets",
)


@pytest.mark.parametrize(
    ("alias", "manager"), [("alias/aws/dynamodb", "AWS"), ("alias/t", "CUSTOMER")]
)
def test_a_key_named_through_a_kms_alias_data_source(alias: str, manager: str) -> None:
    """kms_key_arn = data.aws_kms_alias.x.target_key_arn: the ARN the data source read
    while planning, AWS managed for an alias/aws/ alias (was: cannot be told, an error)."""
    arn = "arn:aws:kms:eu-central-1:123456789012:key/6f1e7e59-2c4c-4d3a-9f60-1d0a5e2b4c11"
    plan = PlanBuilder()
    _table(plan, server_side_encryption=[{"enabled": True, "kms_key_arn": arn}])
    plan.add("", "aws_kms_alias", "x", {"name": alias, "target_key_arn": arn}, mode="data")
    after, _ = states(plan)
    assert fact(after, "dynamodb_table.kms_key", "t", tf_type="aws_dynamodb_table") == {
        "Arn": arn,
        "KeyManager": manager,
    }


def test_an_explicit_empty_encryption_block_is_s3s_default() -> None:
    """Providers before 4.0 write ``server_side_encryption_configuration = []`` for a
    bucket without one: S3 applies SSE-S3 to it (since January 2023), as live."""
    after, _ = states(bucket_plan(server_side_encryption_configuration=[]))
    assert fact(after, "s3_bucket.encryption", "logs", tf_type="aws_s3_bucket") == {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }


def test_a_new_table_that_sets_no_encryption_has_dynamodbs_default() -> None:
    """A new lock table without server_side_encryption (unknown until apply, not
    configured: Terraform 1.11 and provider 5.100 plan it so): AWS owned key, as live."""
    plan = PlanBuilder()
    plan.add(
        "",
        "aws_dynamodb_table",
        "lock",
        {"name": "lock", "hash_key": "LockID", "attribute": [{"name": "LockID", "type": "S"}]},
        action="create",
        unknown={"arn": True, "server_side_encryption": True},
        expressions={"name": const("lock"), "hash_key": const("LockID")},
    )
    after, _ = states(plan)
    read = lambda name: fact(after, name, "lock", tf_type="aws_dynamodb_table")  # noqa: E731
    assert "SSEDescription" not in read("dynamodb_table.description")
    assert read("dynamodb_table.kms_key") is None
