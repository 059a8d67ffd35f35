"""S3 checks: versioning, encryption, public access, lifecycle and delete protection."""

from typing import Any, Literal

from pydantic import Field, model_validator

from policycheck.iam.evaluator import ANYONE, Policy, Target, evaluate
from policycheck.plugin.check import RESOURCE, CheckParams, Facts, NoParams, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples, Json

SseAlgorithm = Literal["AES256", "aws:kms", "aws:kms:dsse"]
StorageClass = Literal[
    "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING"
]
PUBLIC_ACCESS_FLAGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)
DELETE_ACTIONS = ("s3:DeleteObject", "s3:DeleteObjectVersion")


def _versioning(status: str) -> Call:
    return Call(
        "s3",
        "put_bucket_versioning",
        {"Bucket": "{name}", "VersioningConfiguration": {"Status": status}},
    )


def _public_access_block(*off: str) -> Call:
    return Call(
        "s3",
        "put_public_access_block",
        {
            "Bucket": "{name}",
            "PublicAccessBlockConfiguration": {
                flag: flag not in off for flag in PUBLIC_ACCESS_FLAGS
            },
        },
    )


def _lifecycle(*rules: dict[str, Any]) -> Call:
    return Call(
        "s3",
        "put_bucket_lifecycle_configuration",
        {"Bucket": "{name}", "LifecycleConfiguration": {"Rules": list(rules)}},
    )


def _archive_rule(expire_after: int | str) -> dict[str, Any]:
    return {
        "ID": "archive-and-expire",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Transitions": [
            {"Days": "{params.transition_days}", "StorageClass": "{params.storage_class}"}
        ],
        "Expiration": {"Days": expire_after},
    }


#: Deletes no data: aborts stale uploads and removes expired delete markers.
HOUSEKEEPING_RULE = {
    "ID": "housekeeping",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    "Expiration": {"ExpiredObjectDeleteMarker": True},
}


def _deny_delete(*actions: str) -> Call:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyDelete",
                "Effect": "Deny",
                "Principal": "*",
                "Action": list(actions),
                "Resource": "arn:aws:s3:::{name}/*",
            }
        ],
    }
    return Call("s3", "put_bucket_policy", {"Bucket": "{name}", "Policy": Json(policy)})


def _replication(replica: str, region: str) -> tuple[Call, ...]:
    """A versioned replica bucket in ``region`` and a rule replicating everything to it."""
    return (
        Call(
            "s3",
            "create_bucket",
            {"Bucket": replica, "CreateBucketConfiguration": {"LocationConstraint": region}},
            ignore=("BucketAlreadyOwnedByYou",),
            region=region,
        ),
        Call(
            "s3",
            "put_bucket_versioning",
            {"Bucket": replica, "VersioningConfiguration": {"Status": "Enabled"}},
            region=region,
        ),
        _versioning("Enabled"),
        Call(
            "s3",
            "put_bucket_replication",
            {
                "Bucket": "{name}",
                "ReplicationConfiguration": {
                    "Role": "arn:aws:iam::{account_id}:role/s3-replication",
                    "Rules": [
                        {
                            "ID": "dr",
                            "Status": "Enabled",
                            "Priority": 1,
                            "Filter": {},
                            "DeleteMarkerReplication": {"Status": "Disabled"},
                            "Destination": {"Bucket": "arn:aws:s3:::" + replica},
                        }
                    ],
                },
            },
        ),
    )


@check(
    id="s3-versioning-enabled",
    passes="versioning Status is `Enabled` (Suspended or never enabled fails)",
    examples=Examples(
        compliant=(_versioning("Enabled"),),
        deviation=Deviation("versioning suspended", (_versioning("Suspended"),)),
    ),
    title="S3 bucket versioning is enabled",
    resource_type="s3_bucket",
    severity="high",
    facts=("s3_bucket.versioning",),
    remediation=(
        "aws s3api put-bucket-versioning --bucket {name} --versioning-configuration Status=Enabled"
    ),
)
def versioning_enabled(facts: Facts, params: NoParams) -> Verdict:
    """Versioning Status is ``Enabled``; Suspended or never enabled fails."""
    versioning = facts["s3_bucket.versioning"] or {}
    status = versioning.get("Status")
    return judge(
        status == "Enabled",
        f"versioning is {status or 'not enabled (never configured)'}",
        "Enabled",
        expected={"Status": "Enabled"},
        observed=versioning,
    )


class EncryptionParams(CheckParams):
    allowed_algorithms: list[SseAlgorithm] = Field(
        default=["AES256", "aws:kms", "aws:kms:dsse"],
        min_length=1,
        description="Default-encryption algorithms that pass (SSE-S3 is AES256).",
    )


@check(
    id="s3-encryption-at-rest",
    passes="default encryption configured with an algorithm in `allowed_algorithms` "
    "(state bucket: exactly `AES256`)",
    examples=Examples(
        compliant=(
            Call(
                "s3",
                "put_bucket_encryption",
                {
                    "Bucket": "{name}",
                    "ServerSideEncryptionConfiguration": {
                        "Rules": [
                            {
                                "ApplyServerSideEncryptionByDefault": {
                                    "SSEAlgorithm": "{params.allowed_algorithms[0]}"
                                }
                            }
                        ]
                    },
                },
            ),
        ),
        deviation=Deviation("no default encryption configured"),
    ),
    title="S3 bucket has default encryption with an allowed algorithm",
    resource_type="s3_bucket",
    severity="high",
    facts=("s3_bucket.encryption",),
    remediation=(
        "aws s3api put-bucket-encryption --bucket {name} --server-side-encryption-configuration "
        '\'{{"Rules":[{{"ApplyServerSideEncryptionByDefault":{{"SSEAlgorithm":"AES256"}}}}]}}\''
    ),
    params=EncryptionParams,
)
def encryption_at_rest(facts: Facts, params: EncryptionParams) -> Verdict:
    """Default encryption is configured and every rule uses an allowed algorithm."""
    configuration = facts["s3_bucket.encryption"]
    allowed = " or ".join(params.allowed_algorithms)
    expected = {"SSEAlgorithm": params.allowed_algorithms}
    algorithms = [
        rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        for rule in (configuration or {}).get("Rules", [])
        if "ApplyServerSideEncryptionByDefault" in rule
    ]
    if not algorithms:
        return judge(
            False,
            "no default encryption is configured",
            allowed,
            expected=expected,
            observed=configuration,
        )
    disallowed = sorted(set(algorithms) - set(params.allowed_algorithms))
    return judge(
        not disallowed,
        f"default encryption is {', '.join(algorithms)}",
        allowed,
        expected=expected,
        observed=configuration,
    )


@check(
    id="s3-public-access-blocked",
    passes="all four Block Public Access flags in effect, bucket and account level combined",
    examples=Examples(
        compliant=(_public_access_block(),),
        deviation=Deviation(
            "only BlockPublicAcls and IgnorePublicAcls (Prowler passes this)",
            (_public_access_block("BlockPublicPolicy", "RestrictPublicBuckets"),),
        ),
    ),
    title="S3 Block Public Access is fully in effect (bucket and account combined)",
    resource_type="s3_bucket",
    severity="critical",
    facts=("s3_bucket.public_access_block", "s3_account.public_access_block"),
    remediation=(
        "aws s3api put-public-access-block --bucket {name} --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
        "RestrictPublicBuckets=true"
    ),
)
def public_access_blocked(facts: Facts, params: NoParams) -> Verdict:
    """All four Block Public Access settings are in effect; for each, AWS applies the more
    restrictive of the bucket-level and account-level setting."""
    bucket = facts["s3_bucket.public_access_block"] or {}
    account = facts["s3_account.public_access_block"] or {}
    effective = {
        flag: bool(bucket.get(flag)) or bool(account.get(flag)) for flag in PUBLIC_ACCESS_FLAGS
    }
    missing = [flag for flag in PUBLIC_ACCESS_FLAGS if not effective[flag]]
    observed = {"bucket": bucket or None, "account": account or None, "effective": effective}
    text = (
        f"{', '.join(missing)} not in effect at bucket or account level"
        if missing
        else "all four Block Public Access settings are in effect"
    )
    return judge(
        not missing,
        text,
        "all four in effect",
        expected={flag: True for flag in PUBLIC_ACCESS_FLAGS},
        observed=observed,
    )


def _rule_name(rule: dict[str, Any]) -> str:
    return f"rule {rule['ID']!r}" if rule.get("ID") else "an unnamed rule"


def _enabled_rules(rules: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [rule for rule in rules or [] if rule.get("Status") == "Enabled"]


def _covers_whole_bucket(rule: dict[str, Any]) -> bool:
    """A rule without a prefix, tag or size filter applies to every object."""
    if rule.get("Prefix"):
        return False
    rule_filter = rule.get("Filter") or {}
    return set(rule_filter) <= {"Prefix"} and not rule_filter.get("Prefix")


class ArchiveAndExpireParams(CheckParams):
    storage_class: StorageClass = Field(
        "GLACIER", description="Storage class the objects must move to."
    )
    transition_days: int = Field(
        90, ge=0, description="Objects must transition no later than this many days."
    )
    expiration_days: int = Field(
        365, ge=1, description="Current objects must expire after exactly this many days."
    )
    min_noncurrent_days: int | None = Field(
        None,
        ge=1,
        description=(
            "An enabled rule may delete noncurrent (overwritten or deleted) versions no "
            "sooner than this many days after they became noncurrent; default: "
            "expiration_days."
        ),
    )

    @model_validator(mode="after")
    def _transition_before_expiration(self) -> "ArchiveAndExpireParams":
        if self.transition_days >= self.expiration_days:
            raise ValueError("transition_days must be smaller than expiration_days")
        return self

    @property
    def noncurrent_days(self) -> int:
        """The shortest NoncurrentDays allowed."""
        if self.min_noncurrent_days is None:
            return self.expiration_days
        return self.min_noncurrent_days


@check(
    id="s3-lifecycle-archive-and-expire",
    passes="enabled whole-bucket rules move objects to `storage_class` (GLACIER) within "
    "`transition_days` (90) and expire current objects after exactly `expiration_days` (365); "
    "no enabled rule expires objects earlier or on a date, or deletes noncurrent versions "
    "sooner than `min_noncurrent_days` (default: `expiration_days`) after they became "
    "noncurrent",
    examples=Examples(
        compliant=(_lifecycle(_archive_rule("{params.expiration_days}"), HOUSEKEEPING_RULE),),
        deviation=Deviation(
            "current objects expire after 30 days", (_lifecycle(_archive_rule(30)),)
        ),
    ),
    title="S3 lifecycle archives objects and expires them after the retention period",
    resource_type="s3_bucket",
    severity="medium",
    facts=("s3_bucket.lifecycle",),
    remediation=(
        "Add an enabled lifecycle rule with an empty filter that transitions objects to the "
        "required storage class and expires current objects after the retention period "
        "(aws s3api put-bucket-lifecycle-configuration --bucket {name} ...)"
    ),
    params=ArchiveAndExpireParams,
)
def lifecycle_archive_and_expire(facts: Facts, params: ArchiveAndExpireParams) -> Verdict:
    """Enabled rules covering the whole bucket transition objects to the storage class no
    later than ``transition_days`` and expire current objects after exactly
    ``expiration_days``; no enabled rule (of any scope) expires objects earlier, by Days
    or on a fixed Date, and none deletes noncurrent versions (``NoncurrentVersionExpiration``)
    sooner than ``min_noncurrent_days`` (default ``expiration_days``) after they became
    noncurrent: on a versioned bucket an overwritten or deleted log survives only as a
    noncurrent version, and must be kept for the retention period too.
    ``NewerNoncurrentVersions`` does not make a short ``NoncurrentDays`` safe: it keeps
    only the newest N noncurrent versions, so N+1 overwrites still destroy the original
    after ``NoncurrentDays``. Noncurrent transitions, removing expired delete markers and
    aborting incomplete uploads delete no data; disabled rules are ignored."""
    rules = facts["s3_bucket.lifecycle"]
    min_noncurrent = params.noncurrent_days
    expected = {
        "Status": "Enabled",
        "Filter": "whole bucket",
        "Transition": {
            "StorageClass": params.storage_class,
            "Days": f"<= {params.transition_days}",
        },
        "Expiration": {"Days": params.expiration_days},
        "NoncurrentVersionExpiration": {"NoncurrentDays": f">= {min_noncurrent}"},
    }
    expected_text = (
        f"an enabled whole-bucket rule moving objects to {params.storage_class} within "
        f"{params.transition_days} days and expiring them after {params.expiration_days} days, "
        f"noncurrent versions kept at least {min_noncurrent} days"
    )
    if rules is None:
        return judge(
            False, "no lifecycle configuration", expected_text, expected=expected, observed=None
        )
    enabled = _enabled_rules(rules)
    whole_bucket = [rule for rule in enabled if _covers_whole_bucket(rule)]
    transition_days = [
        transition["Days"]
        for rule in whole_bucket
        for transition in rule.get("Transitions", [])
        if transition.get("StorageClass") == params.storage_class and "Days" in transition
    ]
    expiration_days = [
        rule["Expiration"]["Days"] for rule in whole_bucket if "Days" in rule.get("Expiration", {})
    ]
    problems = []
    if not transition_days:
        problems.append(f"no enabled whole-bucket rule transitions to {params.storage_class}")
    elif min(transition_days) > params.transition_days:
        problems.append(f"objects move to {params.storage_class} after {min(transition_days)} days")
    if not expiration_days:
        problems.append("no enabled whole-bucket rule expires current objects")
    elif min(expiration_days) != params.expiration_days:
        problems.append(f"current objects expire after {min(expiration_days)} days")
    for rule in enabled:
        expiration = rule.get("Expiration", {})
        if "Date" in expiration:
            problems.append(f"{_rule_name(rule)} expires objects on a fixed date")
        elif expiration.get("Days", params.expiration_days) < params.expiration_days:
            problems.append(f"{_rule_name(rule)} expires objects after {expiration['Days']} days")
        if "NoncurrentVersionExpiration" in rule:
            noncurrent = rule["NoncurrentVersionExpiration"] or {}
            days = noncurrent.get("NoncurrentDays")
            if not isinstance(days, int) or days < min_noncurrent:
                problems.append(
                    f"{_rule_name(rule)} deletes noncurrent versions after "
                    f"{days if days is not None else 'an unknown number of'} days"
                )
    text = (
        "; ".join(dict.fromkeys(problems))
        if problems
        else f"objects move to {params.storage_class} after {min(transition_days)} days "
        f"and expire after {params.expiration_days} days"
    )
    return judge(not problems, text, expected_text, expected=expected, observed=rules)


@check(
    id="s3-retains-all-versions",
    passes="no enabled lifecycle rule has `Expiration` by Days/Date or "
    "`NoncurrentVersionExpiration` (deleting expired delete markers and aborting uploads is "
    "fine)",
    examples=Examples(
        compliant=(_lifecycle(HOUSEKEEPING_RULE),),
        deviation=Deviation(
            "noncurrent versions deleted after 30 days",
            (
                _lifecycle(
                    HOUSEKEEPING_RULE,
                    {
                        "ID": "drop-old-versions",
                        "Status": "Enabled",
                        "Filter": {"Prefix": ""},
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                    },
                ),
            ),
        ),
    ),
    title="No S3 lifecycle rule deletes data",
    resource_type="s3_bucket",
    severity="high",
    facts=("s3_bucket.lifecycle",),
    remediation=(
        "Remove Expiration (Days/Date) and NoncurrentVersionExpiration from the lifecycle "
        "rules of {name}, or disable those rules"
    ),
)
def retains_all_versions(facts: Facts, params: NoParams) -> Verdict:
    """No enabled lifecycle rule has an ``Expiration`` by Days or Date or a
    ``NoncurrentVersionExpiration``. Removing expired delete markers and aborting
    incomplete multipart uploads delete no data and pass."""
    rules = facts["s3_bucket.lifecycle"]
    expected = {"Expiration": None, "NoncurrentVersionExpiration": None}
    deleting = []
    for rule in _enabled_rules(rules):
        expiration = rule.get("Expiration", {})
        if "Days" in expiration:
            deleting.append(f"{_rule_name(rule)} expires objects after {expiration['Days']} days")
        if "Date" in expiration:
            deleting.append(f"{_rule_name(rule)} expires objects on {expiration['Date']}")
        if "NoncurrentVersionExpiration" in rule:
            deleting.append(f"{_rule_name(rule)} deletes noncurrent versions")
    if rules is None:
        text = "no lifecycle configuration; every version is kept"
    elif deleting:
        text = "; ".join(deleting)
    else:
        text = "no enabled lifecycle rule deletes data"
    return judge(not deleting, text, "no rule that deletes data", expected=expected, observed=rules)


@check(
    id="s3-policy-denies-delete",
    passes="for `s3:DeleteObject` and `s3:DeleteObjectVersion`, a `Deny` to every principal "
    "without Condition on every object (IAM wildcards count)",
    examples=Examples(
        compliant=(_deny_delete(*DELETE_ACTIONS),),
        deviation=Deviation(
            "denies s3:DeleteObject but not s3:DeleteObjectVersion",
            (_deny_delete("s3:DeleteObject"),),
        ),
    ),
    title="S3 bucket policy denies object deletion to everyone",
    resource_type="s3_bucket",
    severity="high",
    facts=("s3_bucket.policy",),
    remediation=(
        'Add to the policy of {name} a statement {{"Effect": "Deny", "Principal": "*", '
        '"Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], '
        '"Resource": "arn:aws:s3:::{name}/*"}}'
    ),
)
def policy_denies_delete(facts: Facts, params: NoParams) -> Verdict:
    """The bucket policy denies ``s3:DeleteObject`` and ``s3:DeleteObjectVersion`` on every
    object of the bucket to every principal, as ``policycheck.iam.evaluator`` decides for a
    principal the policy cannot name and whose own policies allow everything. IAM wildcards
    in actions and resources count, ``NotAction``/``NotResource`` as AWS reads them; a
    Deny under a Condition is not counted."""
    bucket = facts[RESOURCE]["name"]
    policy = facts["s3_bucket.policy"]
    expected = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": list(DELETE_ACTIONS),
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": None,
    }
    expected_text = "an unconditional Deny of s3:DeleteObject and s3:DeleteObjectVersion to *"
    if policy is None:
        return judge(False, "no bucket policy", expected_text, expected=expected, observed=None)
    objects = Target(f"arn:aws:s3:::{bucket}/?*")
    problems = []
    for action in DELETE_ACTIONS:
        decision = evaluate(ANYONE, [action], [objects], [Policy("the bucket policy", policy)])
        if not decision.allowed:
            continue
        conditional = [str(ref) for ref in decision.conditional if ref.effect == "Deny"]
        if conditional:
            problems.append(
                f"the Deny of {action} applies only under a Condition ({', '.join(conditional)})"
            )
        else:
            problems.append(f"nothing denies {action} to every principal on every object")
    text = "; ".join(problems) if problems else "deletion of objects and versions is denied to *"
    return judge(not problems, text, expected_text, expected=expected, observed=policy)


@check(
    id="s3-cross-region-replication",
    passes="an enabled rule replicates to an existing, versioned bucket in another region "
    "(not bound by default: the policy accepts its absence)",
    examples=Examples(
        compliant=_replication("{name}-replica", "{other_region}"),
        deviation=Deviation(
            "replicates to a bucket in the same region",
            _replication("{name}-replica-same-region", "{region}"),
        ),
    ),
    title="S3 bucket replicates to a versioned bucket in another region",
    resource_type="s3_bucket",
    severity="medium",
    facts=("s3_bucket.replication", "s3_bucket.replication_destinations"),
    remediation=(
        "Create a versioned bucket in another region and add an enabled replication rule to "
        "{name} (aws s3api put-bucket-replication)"
    ),
)
def cross_region_replication(facts: Facts, params: NoParams) -> Verdict:
    """An enabled replication rule writes to an existing, versioned bucket in a region
    other than the source bucket's."""
    region = facts[RESOURCE]["region"]
    destinations = facts["s3_bucket.replication_destinations"] or []
    good = [
        d
        for d in destinations
        if d.get("exists") and d.get("versioning") == "Enabled" and d.get("region") != region
    ]
    observed = {"replication": facts["s3_bucket.replication"], "destinations": destinations}
    expected_text = "an enabled rule replicating to a versioned bucket in another region"
    if good:
        text = f"replicates to {good[0]['bucket']} in {good[0]['region']}"
    elif not destinations:
        text = "no enabled replication rule"
    else:
        text = "; ".join(
            f"{d['bucket']} does not exist"
            if not d.get("exists")
            else f"{d['bucket']} is in the same region"
            if d.get("region") == region
            else f"{d['bucket']} is not versioned"
            for d in destinations
        )
    return judge(
        bool(good),
        text,
        expected_text,
        expected={"Status": "Enabled", "destination": "versioned, other region"},
        observed=observed,
    )


@check(
    id="s3-bucket-in-region",
    passes="the bucket is in the environment's region, as the ListBuckets answer that listed "
    "it (`BucketRegion`) or else GetBucketLocation names it (a bucket of the same name "
    "elsewhere is not the platform's)",
    examples=Examples(
        deviation=Deviation(
            "the bucket was created in another region",
            at_creation={
                "create_bucket": {
                    "CreateBucketConfiguration": {"LocationConstraint": "{other_region}"}
                }
            },
            created_in="{other_region}",
        ),
    ),
    title="S3 bucket is in the environment's region",
    resource_type="s3_bucket",
    severity="medium",
    facts=("s3_bucket.region",),
    remediation=(
        "Recreate {name} in the environment's region (bucket names are global: one of this "
        "name in another region is not the platform's)"
    ),
)
def bucket_in_region(facts: Facts, params: NoParams) -> Verdict:
    """The bucket's region is the environment's ("All resources reside in eu-central-1"):
    ``BucketRegion`` of the run's ListBuckets answer where it listed the bucket, else
    GetBucketLocation's, us-east-1's empty answer and the legacy ``EU`` read as regions."""
    expected = facts[RESOURCE]["region"]
    region = facts["s3_bucket.region"]
    return judge(
        region == expected,
        f"bucket is in {region}",
        expected,
        expected={"region": expected},
        observed={"region": region},
    )
