"""Terraform plans in the JSON output format (``terraform show -json tfplan``), for the
tests and the benchmark: a builder that writes the format as Terraform's "JSON Output
Format" documentation describes it (``format_version``, ``planned_values`` with
``child_modules`` at any depth, ``resource_changes`` with ``before``/``after``,
``after_unknown``, ``before_sensitive``/``after_sensitive``, ``prior_state``,
``configuration`` with expressions, their ``references``, ``module_calls``,
``count_expression``/``for_each_expression``), and the seed's platform as a plan.

``tests/fixtures/terraform/platform-dev.json`` is ``platform_plan("dev")`` written out
(``python tests/support/planbuilder.py`` rewrites it; a test checks it is current).
"""

import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVIDER = "registry.terraform.io/hashicorp/aws"
ACCOUNT = "123456789012"  # moto's default account, as the live tests see it
REGION = "eu-central-1"
MCPS = ("sharepoint", "outlook-mcp", "teams", "databricks")
#: The MCP the plan adds: created, so its computed values are unknown until apply.
NEW_MCP = "databricks"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "terraform" / "platform-dev.json"
#: The value of every SSM parameter in the plans (sensitive: never in a report).
SECRET = "not-a-real-secret-but-never-print-it"
_MODULE = re.compile(r'module\.[\w-]+(?:\["[^"]*"\]|\[\d+\])?')


def ref(*targets: str) -> dict[str, list[str]]:
    """An expression referring to other objects, unwrapped step by step as Terraform
    writes it: ``ref("aws_s3_bucket.state.id")`` lists ``aws_s3_bucket.state.id`` and
    ``aws_s3_bucket.state``."""
    references: list[str] = []
    for target in targets:
        parts = target.split(".")
        first = 3 if parts[0] == "data" else 2
        references += [".".join(parts[:n]) for n in range(len(parts), first - 1, -1)]
    return {"references": references}


def const(value: Any) -> dict[str, Any]:
    return {"constant_value": value}


@dataclass
class Resource:
    module: str
    type: str
    name: str
    index: int | str | None
    mode: str
    actions: list[str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    unknown: dict[str, Any]
    sensitive: dict[str, Any]

    @property
    def address(self) -> str:
        local = ("data." if self.mode == "data" else "") + f"{self.type}.{self.name}"
        if self.index is not None:
            local += f"[{json.dumps(self.index)}]"
        return f"{self.module}.{local}" if self.module else local

    def entry(self) -> dict[str, Any]:
        entry = {"address": self.address, "mode": self.mode, "type": self.type, "name": self.name}
        if self.index is not None:
            entry["index"] = self.index
        return {**entry, "provider_name": PROVIDER}


@dataclass
class PlanBuilder:
    """Resources by module; their configuration blocks; the module calls."""

    terraform_version: str = "1.9.8"
    region: str = REGION
    resources: list[Resource] = field(default_factory=list)
    blocks: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)

    def call(self, path: str, source: str, **meta: Any) -> None:
        """A module call (path without instance keys: ``module.mcp.module.secret``)."""
        self.calls[path] = {"source": source, **meta}

    def add(
        self,
        module: str,
        type: str,
        name: str,
        values: dict[str, Any] | None,
        *,
        index: int | str | None = None,
        action: str = "no-op",
        before: dict[str, Any] | None = None,
        unknown: dict[str, Any] | None = None,
        sensitive: dict[str, Any] | None = None,
        expressions: dict[str, Any] | None = None,
        mode: str = "managed",
        **meta: Any,
    ) -> Resource:
        """One resource instance. ``values`` are those after the apply (known ones only;
        ``unknown`` marks the rest), ``before`` those before (default: the same, unless it
        is created)."""
        actions = {"replace": ["delete", "create"]}.get(action, [action])
        if before is None and action not in ("create", "read"):
            before = copy.deepcopy(values)
        after = None if action == "delete" else values
        resource = Resource(
            module, type, name, index, mode, actions, before, after, unknown or {}, sensitive or {}
        )
        self.resources.append(resource)
        local = ("data." if mode == "data" else "") + f"{type}.{name}"
        self.blocks.setdefault(
            (_strip(module), local),
            {
                "address": local,
                "mode": mode,
                "type": type,
                "name": name,
                "provider_config_key": f"{_strip(module)}:aws" if module else "aws",
                "expressions": expressions or {},
                "schema_version": 0,
                **meta,
            },
        )
        return resource

    def document(self, timestamp: str = "2026-11-24T09:30:00Z") -> dict[str, Any]:
        changes = [
            {
                **r.entry(),
                **({"module_address": r.module} if r.module else {}),
                "change": {
                    "actions": r.actions,
                    "before": r.before,
                    "after": r.after,
                    "after_unknown": r.unknown if r.after is not None else {},
                    "before_sensitive": _sensitive(r.before, r.sensitive),
                    "after_sensitive": _sensitive(r.after, r.sensitive),
                },
            }
            for r in self.resources
            if r.mode == "managed" or r.actions == ["read"]
        ]
        planned = [r for r in self.resources if r.after is not None and r.actions != ["read"]]
        prior = [r for r in self.resources if r.before is not None]
        return {
            "format_version": "1.2",
            "terraform_version": self.terraform_version,
            "planned_values": {"root_module": _tree(planned, "after")},
            "resource_changes": changes,
            "prior_state": {
                "format_version": "1.0",
                "terraform_version": self.terraform_version,
                "values": {"root_module": _tree(prior, "before")},
            },
            "configuration": {
                "provider_config": {
                    "aws": {
                        "name": "aws",
                        "full_name": PROVIDER,
                        "version_constraint": "~> 5.80",
                        "expressions": {"region": const(self.region)},
                    }
                },
                "root_module": self._module_config(""),
            },
            "timestamp": timestamp,
            "applyable": True,
            "complete": True,
            "errored": False,
        }

    def _module_config(self, path: str) -> dict[str, Any]:
        module: dict[str, Any] = {
            "resources": [block for (where, _), block in self.blocks.items() if where == path]
        }
        children = {
            call.rsplit(".", 1)[-1]: meta
            for call, meta in self.calls.items()
            if (call.rsplit(".module.", 1)[0] if ".module." in call else "") == path
        }
        if children:
            module["module_calls"] = {
                name: {**meta, "module": self._module_config(f"{path}.module.{name}".lstrip("."))}
                for name, meta in children.items()
            }
        return module


def _strip(module: str) -> str:
    return re.sub(r'\["[^"]*"\]|\[\d+\]', "", module)


def _sensitive(values: dict[str, Any] | None, marks: dict[str, Any]) -> Any:
    """Terraform writes false for a value that is absent, else the shape of the marks."""
    return False if values is None else marks


def _tree(resources: list[Resource], side: str) -> dict[str, Any]:
    """A values representation: resources of each module under its parent, any depth."""
    modules: dict[str, dict[str, Any]] = {"": {"resources": []}}
    for resource in resources:
        parts = _MODULE.findall(resource.module)
        for depth in range(1, len(parts) + 1):
            address = ".".join(parts[:depth])
            if address not in modules:
                modules[address] = {"resources": [], "address": address}
                parent = ".".join(parts[: depth - 1])
                modules[parent].setdefault("child_modules", []).append(modules[address])
        values = getattr(resource, side)
        modules[resource.module]["resources"].append(
            {
                **resource.entry(),
                "schema_version": 0,
                "values": values,
                "sensitive_values": resource.sensitive,
            }
        )
    return modules[""]


# --- the platform ------------------------------------------------------------------------


def _legacy_blocks(versioned: bool, algorithm: str, key: str, rules: list[Any]) -> dict[str, Any]:
    """What the AWS provider reads back into a bucket's legacy blocks from AWS."""
    return {
        "versioning": [{"enabled": versioned, "mfa_delete": False}],
        "server_side_encryption_configuration": [
            {
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": algorithm, "kms_master_key_id": key}
                        ],
                        "bucket_key_enabled": False,
                    }
                ]
            }
        ],
        "lifecycle_rule": rules,
        "policy": "",
    }


def _bucket(plan: PlanBuilder, name: str, bucket: str, **blocks: Any) -> None:
    module = "module.shared"
    values = {
        "bucket": bucket,
        "bucket_prefix": "",
        "id": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "force_destroy": False,
        "object_lock_enabled": False,
        "tags": {"platform": "aiconnectors"},
        "tags_all": {"platform": "aiconnectors"},
        **blocks,
    }
    plan.add(
        module,
        "aws_s3_bucket",
        name,
        values,
        expressions={"bucket": ref("var.env"), "tags": ref("local.tags")},
    )
    owner = ref(f"aws_s3_bucket.{name}.id")
    plan.add(
        module,
        "aws_s3_bucket_versioning",
        name,
        {
            "bucket": bucket,
            "id": bucket,
            "expected_bucket_owner": "",
            "mfa": None,
            "versioning_configuration": [{"status": "Enabled", "mfa_delete": "Disabled"}],
        },
        expressions={"bucket": owner, "versioning_configuration": [{"status": const("Enabled")}]},
    )
    plan.add(
        module,
        "aws_s3_bucket_public_access_block",
        name,
        {
            "bucket": bucket,
            "id": bucket,
            "block_public_acls": True,
            "block_public_policy": True,
            "ignore_public_acls": True,
            "restrict_public_buckets": True,
        },
        expressions={"bucket": owner},
    )


def _lifecycle_rule(rule_id: str, **parts: Any) -> dict[str, Any]:
    rule = {
        "id": rule_id,
        "status": "Enabled",
        "prefix": "",
        "filter": [
            {
                "prefix": "",
                "and": [],
                "tag": [],
                "object_size_greater_than": None,
                "object_size_less_than": None,
            }
        ],
        "abort_incomplete_multipart_upload": [],
        "expiration": [],
        "transition": [],
        "noncurrent_version_expiration": [],
        "noncurrent_version_transition": [],
    }
    return {**rule, **parts}


HOUSEKEEPING = _lifecycle_rule(
    "housekeeping",
    abort_incomplete_multipart_upload=[{"days_after_initiation": 7}],
    expiration=[{"date": None, "days": None, "expired_object_delete_marker": True}],
)
ARCHIVE = _lifecycle_rule(
    "archive-and-expire",
    transition=[{"date": None, "days": 90, "storage_class": "GLACIER"}],
    expiration=[{"date": None, "days": 365, "expired_object_delete_marker": False}],
)


def _legacy_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule as the provider reads it back into the bucket's ``lifecycle_rule``."""
    expiration = [
        {
            "date": "",
            "days": e["days"] or 0,
            "expired_object_delete_marker": bool(e.get("expired_object_delete_marker")),
        }
        for e in rule["expiration"]
    ]
    return {
        "id": rule["id"],
        "enabled": True,
        "prefix": "",
        "tags": {},
        "abort_incomplete_multipart_upload_days": next(
            (a["days_after_initiation"] for a in rule["abort_incomplete_multipart_upload"]), 0
        ),
        "expiration": expiration,
        "transition": [
            {"date": "", "days": t["days"], "storage_class": t["storage_class"]}
            for t in rule["transition"]
        ],
        "noncurrent_version_expiration": [],
        "noncurrent_version_transition": [],
    }


def _deny_delete(bucket: str, *actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyDelete",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": list(actions),
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def _shared(plan: PlanBuilder, env: str) -> None:
    """State and audit buckets, the lock table, the audit stream and its key, the
    cluster; and a retired log bucket the plan deletes."""
    module = "module.shared"
    plan.call("module.shared", "./modules/shared", expressions={"env": const(env)})
    state, audit = f"aiconnectors-terraform-state-{env}", f"nn-aiconnectors-audit-{env}"
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    plan.add(
        module,
        "aws_kms_key",
        "audit",
        {
            "arn": key_arn,
            "key_id": key_arn.rsplit("/", 1)[-1],
            "description": "audit logs",
            "enable_key_rotation": True,
            "deletion_window_in_days": 30,
        },
        expressions={"description": const("audit logs"), "enable_key_rotation": const(True)},
    )
    _bucket(
        plan, "state", state, **_legacy_blocks(True, "AES256", "", [_legacy_rule(HOUSEKEEPING)])
    )
    _bucket(
        plan,
        "audit",
        audit,
        **_legacy_blocks(True, "aws:kms", key_arn, [_legacy_rule(ARCHIVE)]),
    )
    owner = {name: ref(f"aws_s3_bucket.{name}.id") for name in ("state", "audit")}
    for name, bucket, algorithm, key in (
        ("state", state, "AES256", None),
        ("audit", audit, "aws:kms", key_arn),
    ):
        plan.add(
            module,
            "aws_s3_bucket_server_side_encryption_configuration",
            name,
            {
                "bucket": bucket,
                "id": bucket,
                "expected_bucket_owner": "",
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": algorithm, "kms_master_key_id": key}
                        ],
                        "bucket_key_enabled": key is not None,
                    }
                ],
            },
            expressions={"bucket": owner[name]},
        )
    plan.add(
        module,
        "aws_s3_bucket_lifecycle_configuration",
        "state",
        {"bucket": state, "id": state, "expected_bucket_owner": "", "rule": [HOUSEKEEPING]},
        expressions={"bucket": owner["state"]},
    )
    # The plan adds the housekeeping rule to the audit bucket's lifecycle.
    plan.add(
        module,
        "aws_s3_bucket_lifecycle_configuration",
        "audit",
        {
            "bucket": audit,
            "id": audit,
            "expected_bucket_owner": "",
            "rule": [ARCHIVE, HOUSEKEEPING],
        },
        action="update",
        before={"bucket": audit, "id": audit, "expected_bucket_owner": "", "rule": [ARCHIVE]},
        expressions={"bucket": owner["audit"]},
    )
    document = _deny_delete(audit, "s3:DeleteObject", "s3:DeleteObjectVersion")
    plan.add(
        module,
        "aws_iam_policy_document",
        "audit",
        {"id": "2851119427", "json": document, "minified_json": document.replace(" ", "")},
        mode="data",
        expressions={
            "statement": [{"effect": const("Deny"), "resources": ref("aws_s3_bucket.audit.arn")}]
        },
    )
    # The provider normalises the document on update: the plan knows it only after apply,
    # but the data source it comes from was read while planning.
    plan.add(
        module,
        "aws_s3_bucket_policy",
        "audit",
        {"bucket": audit, "id": audit},
        action="update",
        before={"bucket": audit, "id": audit, "policy": document},
        unknown={"policy": True},
        expressions={
            "bucket": owner["audit"],
            "policy": ref("data.aws_iam_policy_document.audit.json"),
        },
    )
    plan.add(
        module,
        "aws_s3_account_public_access_block",
        "this",
        {
            "account_id": ACCOUNT,
            "id": ACCOUNT,
            "block_public_acls": True,
            "ignore_public_acls": True,
            "block_public_policy": False,
            "restrict_public_buckets": False,
        },
        index=0,
        count_expression=const(1),
    )
    plan.add(
        module,
        "aws_dynamodb_table",
        "lock",
        {
            "name": f"aiconnectors-terraform-lock-{env}",
            "arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/aiconnectors-terraform-lock-{env}",
            "billing_mode": "PAY_PER_REQUEST",
            "hash_key": "LockID",
            "range_key": None,
            "attribute": [{"name": "LockID", "type": "S"}],
            "point_in_time_recovery": [{"enabled": False, "recovery_period_in_days": 0}],
            "server_side_encryption": [],
            "ttl": [{"enabled": False, "attribute_name": ""}],
        },
        expressions={"name": ref("var.env"), "hash_key": const("LockID")},
    )
    plan.add(
        module,
        "aws_kinesis_firehose_delivery_stream",
        "audit",
        {
            "name": f"{audit}-delivery",
            "arn": f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{audit}-delivery",
            "destination": "extended_s3",
            "server_side_encryption": [
                {"enabled": True, "key_type": "AWS_OWNED_CMK", "key_arn": None}
            ],
            "extended_s3_configuration": [
                {
                    "bucket_arn": f"arn:aws:s3:::{audit}",
                    "role_arn": f"arn:aws:iam::{ACCOUNT}:role/firehose-audit",
                    "buffering_interval": 60,
                    "buffering_size": 5,
                    "compression_format": "GZIP",
                    "kms_key_arn": key_arn,
                    "prefix": "audit/",
                    "s3_backup_mode": "Disabled",
                    "s3_backup_configuration": [],
                }
            ],
        },
        expressions={
            "name": ref("var.env"),
            "extended_s3_configuration": [
                {
                    "bucket_arn": ref("aws_s3_bucket.audit.arn"),
                    "kms_key_arn": ref("aws_kms_key.audit.arn"),
                }
            ],
        },
    )
    cluster = f"aiconnectors-{env}-aiconnectors"
    plan.add(
        module,
        "aws_ecs_cluster",
        "main",
        {
            "name": cluster,
            "arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
            "id": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}",
        },
        expressions={"name": ref("var.env")},
    )
    retired = f"aiconnectors-legacy-logs-{env}"
    plan.add(
        module,
        "aws_s3_bucket",
        "legacy_logs",
        {"bucket": retired, "id": retired, "arn": f"arn:aws:s3:::{retired}", "force_destroy": True},
        action="delete",
    )


def _token_policy(table_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TokenCache",
                    "Effect": "Allow",
                    "Action": [
                        "dynamodb:GetItem",
                        "dynamodb:PutItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:Query",
                    ],
                    "Resource": [table_arn, f"{table_arn}/index/*"],
                }
            ],
        }
    )


def _mcp(plan: PlanBuilder, env: str, mcp: str) -> None:
    """One MCP's module instance: token table, repository and its lifecycle policy,
    task role and policy, task definition, service; its secret in a nested module."""
    module = f'module.mcp["{mcp}"]'
    new = mcp == NEW_MCP
    action = "create" if new else "no-op"
    table = f"mcp-oauth-storage-{mcp}-{env}"
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    service, role = f"mcp-{mcp}-main-svc", f"mcp-{mcp}-main-svc-{env}-task"
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
    plan.add(
        module,
        "aws_dynamodb_table",
        "tokens",
        {
            "name": table,
            "billing_mode": "PAY_PER_REQUEST",
            "hash_key": "pk",
            "range_key": None,
            "attribute": [{"name": "pk", "type": "S"}],
            "point_in_time_recovery": [
                {"enabled": True, **({} if new else {"recovery_period_in_days": 35})}
            ],
            "ttl": [{"enabled": True, "attribute_name": "expires_at"}],
            "server_side_encryption": [{"enabled": True, **({} if new else {"kms_key_arn": ""})}],
            **({} if new else {"arn": table_arn, "id": table}),
        },
        action=action,
        unknown={
            "arn": True,
            "id": True,
            "stream_arn": True,
            "point_in_time_recovery": [{"recovery_period_in_days": True}],
            "server_side_encryption": [{"kms_key_arn": True}],
        }
        if new
        else {},
        expressions={
            "name": ref("var.name", "var.env"),
            "hash_key": const("pk"),
            "point_in_time_recovery": [{"enabled": const(True)}],
            "ttl": [{"enabled": const(True), "attribute_name": const("expires_at")}],
            "server_side_encryption": [{"enabled": const(True)}],
        },
    )
    repository = f"mcp-{mcp}"
    plan.add(
        module,
        "aws_ecr_repository",
        "this",
        {
            "name": repository,
            "image_tag_mutability": "IMMUTABLE",
            **(
                {}
                if new
                else {
                    "arn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}",
                    "repository_url": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}",
                }
            ),
        },
        action=action,
        unknown={"arn": True, "registry_id": True, "repository_url": True} if new else {},
        expressions={"name": ref("var.name")},
    )
    keep = {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep the last 10 tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": 10,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    plan.add(
        module,
        "aws_ecr_lifecycle_policy",
        "this",
        {"repository": repository, "policy": json.dumps(keep)},
        action=action,
        unknown={"registry_id": True, "id": True} if new else {},
        expressions={
            "repository": ref("aws_ecr_repository.this.name"),
            "policy": ref("local.lifecycle"),
        },
    )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                }
            ],
        }
    )
    policy = _token_policy(table_arn)
    plan.add(
        module,
        "aws_iam_role",
        "task",
        {
            "name": role,
            "path": "/",
            "assume_role_policy": trust,
            **(
                {}
                if new
                else {
                    "arn": role_arn,
                    "id": role,
                    "inline_policy": [{"name": "token-cache", "policy": policy}],
                    "managed_policy_arns": [],
                }
            ),
        },
        action=action,
        unknown={
            "arn": True,
            "id": True,
            "unique_id": True,
            "inline_policy": True,
            "managed_policy_arns": True,
        }
        if new
        else {},
        expressions={
            "name": ref("var.name", "var.env"),
            "assume_role_policy": ref("data.aws_iam_policy_document.trust.json"),
        },
    )
    plan.add(
        module,
        "aws_iam_role_policy",
        "token_cache",
        {
            "name": "token-cache",
            "policy": policy,
            **({} if new else {"role": role, "id": f"{role}:token-cache"}),
        },
        action=action,
        unknown={"role": True, "id": True} if new else {},
        expressions={
            "name": const("token-cache"),
            "role": ref("aws_iam_role.task.id"),
            "policy": ref("local.token_policy"),
        },
    )
    family = f"{service}-{env}"
    definition = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:3"
    plan.add(
        module,
        "aws_ecs_task_definition",
        "this",
        {
            "family": family,
            "container_definitions": json.dumps(
                [{"name": "app", "image": f"{repository}:latest", "memory": 512}]
            ),
            **({} if new else {"arn": definition, "revision": 3, "task_role_arn": role_arn}),
        },
        action=action,
        unknown={"arn": True, "revision": True, "task_role_arn": True} if new else {},
        expressions={
            "family": ref("var.name", "var.env"),
            "task_role_arn": ref("aws_iam_role.task.arn"),
        },
    )
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/aiconnectors-{env}-aiconnectors"
    plan.add(
        module,
        "aws_ecs_service",
        "this",
        {
            "name": service,
            "cluster": cluster_arn,
            "desired_count": 1,
            "launch_type": "FARGATE",
            **({} if new else {"task_definition": definition, "id": f"{cluster_arn}/{service}"}),
        },
        action=action,
        unknown={"task_definition": True, "id": True} if new else {},
        expressions={
            "name": ref("var.name"),
            "cluster": ref("var.cluster_arn"),
            "task_definition": ref("aws_ecs_task_definition.this.arn"),
        },
    )
    secret = f"{module}.module.secret"
    parameter = f"/aiconnectors/{env}/mcps/{mcp}/client-secret"
    plan.add(
        secret,
        "aws_ssm_parameter",
        "this",
        {
            "name": parameter,
            "type": "SecureString",
            "key_id": "alias/aws/ssm",
            "tier": "Standard",
            "value": SECRET,
            "insecure_value": None,
            **(
                {}
                if new
                else {"arn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{parameter}", "version": 2}
            ),
        },
        action=action,
        unknown={"arn": True, "version": True} if new else {},
        sensitive={"value": True},
        expressions={
            "name": ref("var.name"),
            "type": const("SecureString"),
            "value": ref("var.value"),
        },
    )


def platform_plan(env: str = "dev") -> dict[str, Any]:
    """The seed's platform as one plan: compliant with the policy; the MCP ``databricks``
    is added (created), the audit bucket gains a lifecycle rule, a retired bucket goes."""
    plan = PlanBuilder()
    _shared(plan, env)
    plan.call("module.mcp", "./modules/mcp", for_each_expression=ref("var.mcps"))
    plan.call("module.mcp.module.secret", "../secret")
    for mcp in MCPS:
        _mcp(plan, env, mcp)
    return plan.document()


# --- deviations: each check's example of what it catches, as a change to the plan ---------

#: Per plan-judgeable check, the change to the compliant plan that makes its deviation
#: (policycheck.plugin.examples: the deviation each check catches, live). Each operation finds
#: resources by ``type`` and ``where`` (after values; ``{name}`` is the deviated
#: resource's name, ``{env}`` the environment) and: ``set`` arguments (``before``: also
#: as they are today), ``path``/``value`` one nested argument, ``remove`` the resource
#: from the plan, ``action`` its action.
PLAN_DEVIATIONS: dict[str, list[dict[str, Any]]] = {
    "s3-versioning-enabled": [
        {
            "type": "aws_s3_bucket_versioning",
            "where": {"bucket": "{name}"},
            "set": {
                "versioning_configuration": [{"status": "Suspended", "mfa_delete": "Disabled"}]
            },
        }
    ],
    "s3-retains-all-versions": [
        {
            "type": "aws_s3_bucket_lifecycle_configuration",
            "where": {"bucket": "{name}"},
            "set": {
                "rule": [
                    HOUSEKEEPING,
                    _lifecycle_rule(
                        "drop-old-versions",
                        noncurrent_version_expiration=[
                            {"noncurrent_days": 30, "newer_noncurrent_versions": None}
                        ],
                    ),
                ]
            },
        }
    ],
    "s3-lifecycle-archive-and-expire": [
        {
            "type": "aws_s3_bucket_lifecycle_configuration",
            "where": {"bucket": "{name}"},
            "set": {
                "rule": [
                    {
                        **ARCHIVE,
                        "expiration": [
                            {"date": None, "days": 30, "expired_object_delete_marker": False}
                        ],
                    }
                ]
            },
        }
    ],
    # Live (moto) the deviation is no encryption; on AWS, and so on a plan, a bucket without
    # one has SSE-S3 since 2023: here SSE-KMS where only AES256 is allowed.
    "s3-encryption-at-rest": [
        {
            "type": "aws_s3_bucket_server_side_encryption_configuration",
            "where": {"bucket": "{name}"},
            "set": {
                "rule": [
                    {
                        "apply_server_side_encryption_by_default": [
                            {"sse_algorithm": "aws:kms", "kms_master_key_id": "{audit_key}"}
                        ],
                        "bucket_key_enabled": True,
                    }
                ]
            },
        },
    ],
    "s3-public-access-blocked": [
        {
            "type": "aws_s3_bucket_public_access_block",
            "where": {"bucket": "{name}"},
            "set": {"block_public_policy": False, "restrict_public_buckets": False},
        }
    ],
    "s3-policy-denies-delete": [
        {
            "type": "aws_s3_bucket_policy",
            "where": {"bucket": "{name}"},
            "set": {"policy": _deny_delete("{name}", "s3:DeleteObject")},
        }
    ],
    "firehose-delivers-to-audit-bucket": [
        {
            "type": "aws_kinesis_firehose_delivery_stream",
            "where": {"name": "{name}-delivery"},
            "path": ["extended_s3_configuration", 0, "buffering_interval"],
            "value": 300,
        }
    ],
    "dynamodb-pitr-enabled": [
        {
            "type": "aws_dynamodb_table",
            "where": {"name": "{name}"},
            "set": {"point_in_time_recovery": [{"enabled": True, "recovery_period_in_days": 7}]},
        }
    ],
    "dynamodb-ttl-enabled": [
        {
            "type": "aws_dynamodb_table",
            "where": {"name": "{name}"},
            "set": {"ttl": [{"enabled": False, "attribute_name": ""}]},
        }
    ],
    "dynamodb-encryption-at-rest": [
        {
            "type": "aws_dynamodb_table",
            "where": {"name": "{name}"},
            "set": {"server_side_encryption": [{"enabled": True, "kms_key_arn": "{audit_key}"}]},
        }
    ],
    "terraform-lock-table-ready": [
        {
            "type": "aws_dynamodb_table",
            "where": {"name": "{name}"},
            "set": {"hash_key": "id", "attribute": [{"name": "id", "type": "S"}]},
            "action": "replace",
        }
    ],
    "ecr-lifecycle-retains-tagged": [
        {
            "type": "aws_ecr_lifecycle_policy",
            "where": {"repository": "{name}"},
            "set": {
                "policy": json.dumps(
                    {
                        "rules": [
                            {
                                "rulePriority": 1,
                                "selection": {
                                    "tagStatus": "tagged",
                                    "tagPatternList": ["*"],
                                    "countType": "imageCountMoreThan",
                                    "countNumber": 5,
                                },
                                "action": {"type": "expire"},
                            }
                        ]
                    }
                )
            },
        }
    ],
    "dynamodb-access-isolated": [
        {
            "type": "aws_iam_role_policy",
            "where": {"role": "{name}-{env}-task"},
            "set": {"policy": "{isolation_breach}"},
        }
    ],
    "ssm-parameter-secure": [
        {"type": "aws_ssm_parameter", "where": {"name": "{name}"}, "set": {"type": "String"}}
    ],
}


def deviated(plan: dict[str, Any], check_id: str, name: str, env: str = "dev") -> dict[str, Any]:
    """The plan with the deviation of ``check_id`` on the resource named ``name``."""
    plan = copy.deepcopy(plan)
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
    service_table = (
        table + f"mcp-oauth-storage-{name.removeprefix('mcp-').removesuffix('-main-svc')}-{env}"
    )
    context = {
        "name": name,
        "env": env,
        "audit_key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
        "isolation_breach": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TokenCache",
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                        "Resource": [service_table, f"{table}aiconnectors-terraform-lock-{env}"],
                    }
                ],
            }
        ),
    }
    for operation in PLAN_DEVIATIONS[check_id]:
        patch(plan, _fill(operation, context))
    return plan


def _fill(value: Any, context: dict[str, str]) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        return (
            context[whole.group(1)]
            if whole
            else value.replace("{name}", context["name"]).replace("{env}", context["env"])
        )
    if isinstance(value, dict):
        return {k: _fill(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, context) for v in value]
    return value


def _matches(values: Any, where: dict[str, Any]) -> bool:
    return isinstance(values, dict) and all(values.get(k) == v for k, v in where.items())


def patch(plan: dict[str, Any], operation: dict[str, Any]) -> None:
    """Apply one operation (see PLAN_DEVIATIONS) to a plan document, everywhere the
    resource appears: resource_changes, planned_values and prior_state."""
    kind, where = operation["type"], operation["where"]
    found = [
        c
        for c in plan["resource_changes"]
        if c["type"] == kind and _matches(c["change"]["after"] or c["change"]["before"], where)
    ]
    assert found, operation
    addresses = {c["address"] for c in found}
    if operation.get("remove"):
        plan["resource_changes"] = [
            c for c in plan["resource_changes"] if c["address"] not in addresses
        ]
        for section in (plan["planned_values"], plan["prior_state"]["values"]):
            for module in _all_modules(section["root_module"]):
                module["resources"] = [
                    r for r in module["resources"] if r["address"] not in addresses
                ]
        return
    for change in found:
        detail = change["change"]
        _change_values(detail["after"], detail["after_unknown"], operation)
        if operation.get("before"):
            _change_values(detail["before"], {}, operation)
        if detail["actions"] == ["no-op"] or operation.get("action"):
            detail["actions"] = {"replace": ["delete", "create"]}.get(
                operation.get("action", "update"), [operation.get("action", "update")]
            )
    for section, side in (
        (plan["planned_values"], "after"),
        (plan["prior_state"]["values"], "before"),
    ):
        if side == "before" and not operation.get("before"):
            continue
        for module in _all_modules(section["root_module"]):
            for resource in module["resources"]:
                if resource["address"] in addresses:
                    _change_values(resource["values"], {}, operation)


def _change_values(
    values: dict[str, Any], unknown: dict[str, Any], operation: dict[str, Any]
) -> None:
    if "set" in operation:
        for key, value in operation["set"].items():
            values[key] = copy.deepcopy(value)
            unknown.pop(key, None)
    if "path" in operation:
        *path, last = operation["path"]
        target = values
        for step in path:
            target = target[step]
        target[last] = operation["value"]


def _all_modules(module: dict[str, Any]) -> list[dict[str, Any]]:
    return [module, *(m for child in module.get("child_modules", []) for m in _all_modules(child))]


def write_fixture(path: Path = FIXTURE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(platform_plan("dev"), indent=1) + "\n")


if __name__ == "__main__":
    write_fixture(Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURE)
