"""S3 facts from a plan, in the shapes of ``policycheck.sources.aws.s3``.

A bucket's settings come from the split resources that configure it
(``aws_s3_bucket_versioning``, ``..._server_side_encryption_configuration``,
``..._lifecycle_configuration``, ``..._public_access_block``, ``..._policy``), matched by
``bucket``. Without one, from the bucket's own legacy blocks (``versioning``,
``server_side_encryption_configuration``, ``lifecycle_rule``, ``policy``), which the AWS
provider also fills from AWS for a bucket that exists. A split resource the plan deletes
leaves what its deletion leaves (versioning Suspended, the default SSE-S3 encryption, no
lifecycle, block or policy), and so does a new bucket that sets none (S3's defaults).
What the plan does not configure is taken as not configured: a public-access block
managed elsewhere must come in the plan of its module.

One rule across provider generations: a fact is what the live audit reads after the apply.
Encryption left unset, or set empty (``server_side_encryption_configuration = []``, as
providers before 4.0 write it), is the SSE-S3 that S3 applies to every bucket since January
2023; a block the plan knows only after apply and the configuration does not set (older
plan formats) is S3's default, as versioning off is."""

from typing import Any

from policycheck.plugin.plans import Attachment, PlanGap, PlannedType, PlanReader
from policycheck.sources.terraform.common import Subject, one, policy_document
from policycheck.sources.terraform.iam import ACCOUNT_IAM
from policycheck.sources.terraform.state import Instance, Node, PlanState

BUCKET = "aws_s3_bucket"
S3_BUCKET = PlannedType(
    resource_type="s3_bucket",
    tf_type=BUCKET,
    name_attr="bucket",
    destroys="its objects and all their versions",
)
PUBLIC_ACCESS_FLAGS = {
    "BlockPublicAcls": "block_public_acls",
    "IgnorePublicAcls": "ignore_public_acls",
    "BlockPublicPolicy": "block_public_policy",
    "RestrictPublicBuckets": "restrict_public_buckets",
}
#: What S3 applies to every bucket without an encryption configuration (since 2023).
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _split(state: PlanState, subject: Subject, split: Attachment) -> tuple[Instance | None, bool]:
    """The split resource configuring the bucket (named by the policy: the bucket itself
    may be managed elsewhere), and whether the plan deletes one."""
    name = subject.name
    found = state.attached(split.tf_type, split.attribute, BUCKET, "bucket", name)
    deleted = state.deleted_with(split.tf_type, split.attribute, name)
    return one(found, f"{split.tf_type} of bucket {name}"), bool(deleted)


def _inline(subject: Subject, attr: str) -> list[Node] | None:
    """The bucket's own (legacy) block; None when it is known only after the apply and
    the configuration does not set it: a new bucket, where S3's default applies."""
    node = subject.instance.node
    return None if node.defaulted(attr) else node.blocks(attr)


VERSIONING_RESOURCE = Attachment("aws_s3_bucket_versioning", "bucket")


def versioning(state: PlanState, subject: Subject) -> Any:
    config, deleted = _split(state, subject, VERSIONING_RESOURCE)
    if config is not None:
        status = config.get("versioning_configuration", 0, "status")
        return {} if status in (None, "Disabled") else {"Status": status}
    if deleted:  # the provider suspends versioning when the resource goes
        return {"Status": "Suspended"}
    legacy = _inline(subject, "versioning")
    return {"Status": "Enabled"} if legacy and legacy[0].flag("enabled") else {}


VERSIONING = PlanReader(
    fact="s3_bucket.versioning", read=versioning, attachment=VERSIONING_RESOURCE
)


def _encryption_rules(config: Node) -> dict[str, Any] | None:
    rules = []
    for rule in config.blocks("rule"):
        entry: dict[str, Any] = {}
        default = rule.first("apply_server_side_encryption_by_default")
        if default is not None:
            entry["ApplyServerSideEncryptionByDefault"] = {
                "SSEAlgorithm": default.get("sse_algorithm")
            }
            key = default.optional("kms_master_key_id")
            if key:
                entry["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = key
        bucket_key = rule.optional("bucket_key_enabled")
        if bucket_key is not None:
            entry["BucketKeyEnabled"] = bucket_key
        rules.append(entry)
    return {"Rules": rules} if rules else None


ENCRYPTION_RESOURCE = Attachment("aws_s3_bucket_server_side_encryption_configuration", "bucket")


def encryption(state: PlanState, subject: Subject) -> Any:
    config, deleted = _split(state, subject, ENCRYPTION_RESOURCE)
    if config is not None:
        return _encryption_rules(config.node)
    if deleted:
        return DEFAULT_ENCRYPTION
    legacy = _inline(subject, "server_side_encryption_configuration")
    if not legacy:  # unset, or set empty (providers before 4.0): S3's default
        return DEFAULT_ENCRYPTION
    return _encryption_rules(legacy[0]) or DEFAULT_ENCRYPTION


ENCRYPTION = PlanReader(
    fact="s3_bucket.encryption", read=encryption, attachment=ENCRYPTION_RESOURCE
)
PUBLIC_ACCESS_BLOCK_RESOURCE = Attachment("aws_s3_bucket_public_access_block", "bucket")


def public_access_block(state: PlanState, subject: Subject) -> Any:
    config, _ = _split(state, subject, PUBLIC_ACCESS_BLOCK_RESOURCE)
    return _flags(config)


PUBLIC_ACCESS_BLOCK = PlanReader(
    fact="s3_bucket.public_access_block",
    read=public_access_block,
    attachment=PUBLIC_ACCESS_BLOCK_RESOURCE,
)


def account_public_access_block(state: PlanState, subject: Subject) -> Any:
    blocks = [
        block
        for block in state.of_type("aws_s3_account_public_access_block")
        if block.node.optional("account_id") in (None, "", subject.account_id)
        or not subject.account_id
    ]
    return _flags(one(blocks, f"the public access block of account {subject.account_id}"))


ACCOUNT_PUBLIC_ACCESS_BLOCK = PlanReader(
    fact="s3_account.public_access_block", read=account_public_access_block
)
ACCOUNT_PRINCIPALS = PlanGap(fact="s3_account.iam_principals", why=ACCOUNT_IAM)


def _flags(config: Instance | None) -> dict[str, bool] | None:
    if config is None:
        return None
    return {flag: config.flag(attr) for flag, attr in PUBLIC_ACCESS_FLAGS.items()}


LIFECYCLE_RESOURCE = Attachment("aws_s3_bucket_lifecycle_configuration", "bucket")


def lifecycle(state: PlanState, subject: Subject) -> Any:
    config, deleted = _split(state, subject, LIFECYCLE_RESOURCE)
    if config is not None:
        rules = [_rule(rule) for rule in config.node.blocks("rule")]
    elif deleted:
        return None
    else:
        rules = [_legacy_rule(rule) for rule in _inline(subject, "lifecycle_rule") or []]
    return rules or None


LIFECYCLE = PlanReader(fact="s3_bucket.lifecycle", read=lifecycle, attachment=LIFECYCLE_RESOURCE)


def _rule(rule: Node) -> dict[str, Any]:
    """A rule of aws_s3_bucket_lifecycle_configuration as GetBucketLifecycleConfiguration
    states it."""
    out: dict[str, Any] = {"Status": rule.get("status")}
    if rule.optional("id"):
        out["ID"] = rule.get("id")
    if rule.get("prefix"):
        out["Prefix"] = rule.get("prefix")
    rule_filter = rule.first("filter")
    if rule_filter is not None:
        out["Filter"] = _filter(rule_filter)
    out.update(_expiry(rule, "noncurrent_days"))
    noncurrent = rule.first("noncurrent_version_expiration")
    if noncurrent is not None:
        newer = noncurrent.number("newer_noncurrent_versions")
        if newer:
            out["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = newer
    moves = [
        _transition(t, "noncurrent_days") for t in rule.blocks("noncurrent_version_transition")
    ]
    if moves:
        out["NoncurrentVersionTransitions"] = moves
    abort = rule.first("abort_incomplete_multipart_upload")
    if abort is not None:
        days = abort.number("days_after_initiation")
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return out


def _expiry(rule: Node, noncurrent_days: str) -> dict[str, Any]:
    """A rule's Expiration, Transitions and NoncurrentVersionExpiration (whose days the
    split resource calls ``noncurrent_days`` and the legacy block ``days``)."""
    out: dict[str, Any] = {}
    expiration = rule.first("expiration")
    if expiration is not None:
        out["Expiration"] = _expiration(expiration, "days")
    transitions = [_transition(t, "days") for t in rule.blocks("transition")]
    if transitions:
        out["Transitions"] = transitions
    noncurrent = rule.first("noncurrent_version_expiration")
    if noncurrent is not None:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": noncurrent.number(noncurrent_days)}
    return out


def _filter(rule_filter: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"Prefix": rule_filter.get("prefix") or ""}
    for attr, key in (
        ("object_size_greater_than", "ObjectSizeGreaterThan"),
        ("object_size_less_than", "ObjectSizeLessThan"),
    ):
        if rule_filter.get(attr) is not None:
            out[key] = rule_filter.number(attr)
    tag = rule_filter.first("tag")
    if tag is not None:
        out["Tag"] = {"Key": tag.get("key"), "Value": tag.get("value")}
    both = rule_filter.first("and")
    if both is not None:
        out["And"] = {
            "Prefix": both.get("prefix") or "",
            "Tags": [{"Key": k, "Value": v} for k, v in (both.get("tags") or {}).items()],
            **{
                key: both.number(attr)
                for attr, key in (
                    ("object_size_greater_than", "ObjectSizeGreaterThan"),
                    ("object_size_less_than", "ObjectSizeLessThan"),
                )
                if both.get(attr)
            },
        }
    if not out["Prefix"] and len(out) > 1:
        del out["Prefix"]
    return out


def _expiration(expiration: Node, days_attr: str) -> dict[str, Any]:
    """Days 0 is how older providers write "not set" (S3 requires at least 1)."""
    out: dict[str, Any] = {}
    if days := expiration.number(days_attr):
        out["Days"] = days
    if expiration.get("date"):
        out["Date"] = expiration.get("date")
    if expiration.optional("expired_object_delete_marker"):
        out["ExpiredObjectDeleteMarker"] = True
    return out


def _transition(transition: Node, days_attr: str) -> dict[str, Any]:
    out: dict[str, Any] = {"StorageClass": transition.get("storage_class")}
    if transition.optional("date"):
        out["Date"] = transition.get("date")
    elif transition.get(days_attr) is not None:
        days = transition.number(days_attr)
        out["NoncurrentDays" if days_attr == "noncurrent_days" else "Days"] = days
    return out


def _legacy_rule(rule: Node) -> dict[str, Any]:
    """A ``lifecycle_rule`` block of aws_s3_bucket (AWS provider before 4.0, still read)."""
    out: dict[str, Any] = {"Status": "Enabled" if rule.flag("enabled") else "Disabled"}
    if rule.optional("id"):
        out["ID"] = rule.get("id")
    prefix, tags = rule.get("prefix") or "", rule.get("tags") or {}
    out["Filter"] = (
        {"And": {"Prefix": prefix, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}}
        if tags
        else {"Prefix": prefix}
    )
    out.update(_expiry(rule, "days"))
    if days := rule.number("abort_incomplete_multipart_upload_days"):
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
    return out


POLICY_RESOURCE = Attachment("aws_s3_bucket_policy", "bucket")


def policy(state: PlanState, subject: Subject) -> Any:
    config, deleted = _split(state, subject, POLICY_RESOURCE)
    if config is not None:
        return policy_document(config.node)
    if deleted or _inline(subject, "policy") is None:
        return None
    return policy_document(subject.instance.node)


POLICY = PlanReader(fact="s3_bucket.policy", read=policy, attachment=POLICY_RESOURCE)
REGION = PlanGap(
    fact="s3_bucket.region", why="a plan does not show the region a bucket was created in"
)
_REPLICATION = (
    "replication is judged live: a plan cannot show the replica bucket's region and "
    "versioning when another module manages it"
)
REPLICATION = PlanGap(fact="s3_bucket.replication", why=_REPLICATION)
REPLICATION_DESTINATIONS = PlanGap(fact="s3_bucket.replication_destinations", why=_REPLICATION)
