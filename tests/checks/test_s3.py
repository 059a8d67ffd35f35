import pytest

from support.checks import judge

ALL_FLAGS = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


# --- s3-versioning-enabled ---------------------------------------------------------------


def test_versioning_enabled_passes() -> None:
    verdict = judge("s3-versioning-enabled", {"s3_bucket.versioning": {"Status": "Enabled"}})
    assert verdict.passed
    assert verdict.message == "versioning is Enabled"


@pytest.mark.parametrize(
    ("versioning", "said"),
    [
        ({"Status": "Suspended"}, "versioning is Suspended; expected Enabled"),
        ({}, "versioning is not enabled (never configured); expected Enabled"),
    ],
)
def test_versioning_suspended_or_never_enabled_fails(versioning: dict, said: str) -> None:
    verdict = judge("s3-versioning-enabled", {"s3_bucket.versioning": versioning})
    assert not verdict.passed
    assert verdict.message == said
    assert verdict.observed == versioning


# --- s3-encryption-at-rest ---------------------------------------------------------------


def _sse(*algorithms: str) -> dict:
    return {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": a}} for a in algorithms]
    }


def test_encryption_default_params_accept_kms() -> None:
    assert judge("s3-encryption-at-rest", {"s3_bucket.encryption": _sse("aws:kms")}).passed


def test_encryption_restricted_to_sse_s3() -> None:
    facts = {"s3_bucket.encryption": _sse("AES256")}
    assert judge("s3-encryption-at-rest", facts, allowed_algorithms=["AES256"]).passed
    verdict = judge(
        "s3-encryption-at-rest",
        {"s3_bucket.encryption": _sse("aws:kms")},
        allowed_algorithms=["AES256"],
    )
    assert not verdict.passed
    assert verdict.message == "default encryption is aws:kms; expected AES256"


def test_encryption_one_disallowed_rule_fails() -> None:
    verdict = judge(
        "s3-encryption-at-rest",
        {"s3_bucket.encryption": _sse("AES256", "aws:kms")},
        allowed_algorithms=["AES256"],
    )
    assert not verdict.passed


def test_encryption_not_configured_fails() -> None:
    verdict = judge("s3-encryption-at-rest", {"s3_bucket.encryption": None})
    assert not verdict.passed
    assert verdict.message.startswith("no default encryption is configured")


# --- s3-public-access-blocked ------------------------------------------------------------


def test_public_access_all_four_at_bucket_level_passes() -> None:
    verdict = judge(
        "s3-public-access-blocked",
        {"s3_bucket.public_access_block": ALL_FLAGS, "s3_account.public_access_block": None},
    )
    assert verdict.passed


def test_public_access_combines_bucket_and_account() -> None:
    bucket = {**ALL_FLAGS, "BlockPublicPolicy": False, "RestrictPublicBuckets": False}
    account = {
        **{k: False for k in ALL_FLAGS},
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    verdict = judge(
        "s3-public-access-blocked",
        {"s3_bucket.public_access_block": bucket, "s3_account.public_access_block": account},
    )
    assert verdict.passed
    assert verdict.observed["effective"] == ALL_FLAGS


def test_public_access_two_of_four_fails_unlike_prowler() -> None:
    bucket = {
        "BlockPublicAcls": False,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True,
    }
    verdict = judge(
        "s3-public-access-blocked",
        {"s3_bucket.public_access_block": bucket, "s3_account.public_access_block": None},
    )
    assert not verdict.passed
    assert verdict.message.startswith("BlockPublicAcls, BlockPublicPolicy not in effect")


def test_public_access_three_of_four_is_still_a_failure() -> None:
    bucket = {**ALL_FLAGS, "RestrictPublicBuckets": False}
    verdict = judge(
        "s3-public-access-blocked",
        {"s3_bucket.public_access_block": bucket, "s3_account.public_access_block": {}},
    )
    assert not verdict.passed
    assert "RestrictPublicBuckets" in verdict.message


def test_public_access_none_configured_fails() -> None:
    verdict = judge(
        "s3-public-access-blocked",
        {"s3_bucket.public_access_block": None, "s3_account.public_access_block": None},
    )
    assert not verdict.passed


# --- s3-lifecycle-archive-and-expire -----------------------------------------------------


def _archive(
    days: int = 90,
    expire: int | None = 365,
    storage: str = "GLACIER",
    status: str = "Enabled",
    rule_filter: dict | None = None,
) -> dict:
    rule = {
        "ID": "archive",
        "Status": status,
        "Filter": {"Prefix": ""} if rule_filter is None else rule_filter,
        "Transitions": [{"Days": days, "StorageClass": storage}],
    }
    if expire is not None:
        rule["Expiration"] = {"Days": expire}
    return rule


def _lifecycle(*rules: dict) -> dict:
    return {"s3_bucket.lifecycle": list(rules)}


def test_archive_and_expire_passes() -> None:
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive()))
    assert verdict.passed
    assert verdict.message == "objects move to GLACIER after 90 days and expire after 365 days"


def test_archive_boundary_transition_day() -> None:
    assert judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(days=89))).passed
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(days=91)))
    assert not verdict.passed
    assert "objects move to GLACIER after 91 days" in verdict.message


@pytest.mark.parametrize("expire", [364, 366])
def test_archive_expiration_must_be_exact(expire: int) -> None:
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(expire=expire)))
    assert not verdict.passed
    assert f"current objects expire after {expire} days" in verdict.message


def test_archive_disabled_rule_does_not_count() -> None:
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(status="Disabled")))
    assert not verdict.passed
    assert "no enabled whole-bucket rule transitions to GLACIER" in verdict.message


def test_archive_prefix_rule_does_not_cover_the_bucket() -> None:
    verdict = judge(
        "s3-lifecycle-archive-and-expire", _lifecycle(_archive(rule_filter={"Prefix": "logs/"}))
    )
    assert not verdict.passed


def test_archive_tag_filter_does_not_cover_the_bucket() -> None:
    rule = _archive(rule_filter={"Tag": {"Key": "k", "Value": "v"}})
    assert not judge("s3-lifecycle-archive-and-expire", _lifecycle(rule)).passed


def test_archive_wrong_storage_class_fails() -> None:
    rule = _archive(storage="STANDARD_IA")
    assert not judge("s3-lifecycle-archive-and-expire", _lifecycle(rule)).passed


def test_archive_split_across_whole_bucket_rules_passes() -> None:
    transition = _archive(expire=None)
    expiration = {"ID": "expire", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 365}}
    assert judge("s3-lifecycle-archive-and-expire", _lifecycle(transition, expiration)).passed


def test_archive_earlier_expiry_on_a_prefix_fails() -> None:
    early = {
        "ID": "tmp",
        "Status": "Enabled",
        "Filter": {"Prefix": "x/"},
        "Expiration": {"Days": 30},
    }
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), early))
    assert not verdict.passed
    assert "rule 'tmp' expires objects after 30 days" in verdict.message


def test_archive_no_lifecycle_fails() -> None:
    verdict = judge("s3-lifecycle-archive-and-expire", {"s3_bucket.lifecycle": None})
    assert not verdict.passed
    assert verdict.message.startswith("no lifecycle configuration")


def test_archive_custom_parameters() -> None:
    rule = _archive(days=30, expire=400, storage="DEEP_ARCHIVE")
    assert judge(
        "s3-lifecycle-archive-and-expire",
        _lifecycle(rule),
        storage_class="DEEP_ARCHIVE",
        transition_days=30,
        expiration_days=400,
    ).passed


def _noncurrent(days: int | None = 30, status: str = "Enabled", **extra: object) -> dict:
    expiration: dict = {} if days is None else {"NoncurrentDays": days}
    return {
        "ID": "old-versions",
        "Status": status,
        "Filter": {},
        "NoncurrentVersionExpiration": {**expiration, **extra},
    }


def test_archive_early_noncurrent_expiration_fails() -> None:
    """RPO 0: an overwritten audit log lives on only as a noncurrent version; deleting it
    after 30 days destroys it long before the 365-day retention."""
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), _noncurrent(30)))
    assert not verdict.passed
    assert "rule 'old-versions' deletes noncurrent versions after 30 days" in verdict.message
    assert verdict.expected["NoncurrentVersionExpiration"] == {"NoncurrentDays": ">= 365"}


def test_archive_noncurrent_expiration_boundary_defaults_to_expiration_days() -> None:
    assert judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), _noncurrent(365))).passed
    assert judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), _noncurrent(400))).passed
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), _noncurrent(364)))
    assert not verdict.passed
    assert "deletes noncurrent versions after 364 days" in verdict.message


def test_archive_noncurrent_expiration_in_the_same_rule_fails() -> None:
    rule = {**_archive(), "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(rule))
    assert not verdict.passed
    assert "rule 'archive' deletes noncurrent versions after 1 days" in verdict.message


def test_archive_min_noncurrent_days_parameter() -> None:
    facts = _lifecycle(_archive(), _noncurrent(90))
    assert judge("s3-lifecycle-archive-and-expire", facts, min_noncurrent_days=90).passed
    verdict = judge("s3-lifecycle-archive-and-expire", facts, min_noncurrent_days=91)
    assert not verdict.passed
    assert "noncurrent versions kept at least 91 days" in verdict.message


@pytest.mark.parametrize("value", [0, -1])
def test_archive_min_noncurrent_days_must_be_positive(value: int) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive()), min_noncurrent_days=value)


def test_archive_newer_noncurrent_versions_does_not_make_it_safe() -> None:
    """Keeping the newest 5 noncurrent versions still deletes the original log after 30
    days once it has been overwritten 6 times."""
    rule = _noncurrent(30, NewerNoncurrentVersions=5)
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), rule))
    assert not verdict.passed
    assert "deletes noncurrent versions after 30 days" in verdict.message


def test_archive_noncurrent_expiration_without_days_fails_closed() -> None:
    rule = _noncurrent(None, NewerNoncurrentVersions=5)
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), rule))
    assert not verdict.passed
    assert "deletes noncurrent versions after an unknown number of days" in verdict.message


def test_archive_noncurrent_expiration_on_a_prefix_fails() -> None:
    rule = {**_noncurrent(7), "Filter": {"And": {"Prefix": "x/", "ObjectSizeGreaterThan": 1}}}
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), rule))
    assert not verdict.passed
    assert "deletes noncurrent versions after 7 days" in verdict.message


def test_archive_disabled_noncurrent_expiration_is_ignored() -> None:
    rules = _lifecycle(_archive(), _noncurrent(1, status="Disabled"))
    assert judge("s3-lifecycle-archive-and-expire", rules).passed


def test_archive_rules_that_delete_no_data_pass() -> None:
    """Noncurrent transitions, removing expired delete markers and aborting uploads."""
    housekeeping = {
        "ID": "housekeeping",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        "NoncurrentVersionTransitions": [{"NoncurrentDays": 30, "StorageClass": "GLACIER"}],
    }
    assert judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), housekeeping)).passed


def test_archive_expiration_on_a_date_fails() -> None:
    dated = {"ID": "dated", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": "2030-01-01"}}
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(_archive(), dated))
    assert not verdict.passed
    assert "rule 'dated' expires objects on a fixed date" in verdict.message


@pytest.mark.parametrize(
    "rule_filter",
    [
        {"And": {"Prefix": "", "ObjectSizeGreaterThan": 128}},
        {"ObjectSizeGreaterThan": 0},
        {"ObjectSizeLessThan": 1024},
        {"Tag": {"Key": "k", "Value": "v"}},
        {"And": {"Tags": [{"Key": "k", "Value": "v"}]}},
    ],
)
def test_archive_size_and_tag_filters_are_not_the_whole_bucket(rule_filter: dict) -> None:
    rule = _archive(rule_filter=rule_filter)
    verdict = judge("s3-lifecycle-archive-and-expire", _lifecycle(rule))
    assert not verdict.passed
    assert "no enabled whole-bucket rule transitions to GLACIER" in verdict.message


def test_archive_noncurrent_expiration_read_from_moto(moto) -> None:
    """The rule as S3 stores and returns it (moto), through the collector to the check;
    a denied read is an error."""
    import boto3

    from policycheck.engine.fetching import read_fact
    from policycheck.plugin.facts import FetchContext
    from policycheck.plugin.registry import load_registry
    from support.faults import Fault

    s3 = boto3.client("s3", endpoint_url=moto.url, region_name="eu-central-1")
    s3.create_bucket(
        Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    s3.put_bucket_versioning(Bucket="bucket", VersioningConfiguration={"Status": "Enabled"})
    rule = _noncurrent(30, NewerNoncurrentVersions=3)
    s3.put_bucket_lifecycle_configuration(
        Bucket="bucket", LifecycleConfiguration={"Rules": [_archive(), rule]}
    )
    context = FetchContext("bucket", "123456789012", "eu-central-1", "", lambda service: s3)
    spec = load_registry().facts["s3_bucket.lifecycle"]
    outcome = read_fact(spec, context)
    verdict = judge("s3-lifecycle-archive-and-expire", {"s3_bucket.lifecycle": outcome.value})
    assert not verdict.passed
    assert "rule 'old-versions' deletes noncurrent versions after 30 days" in verdict.message
    moto.faults.add(Fault("GetBucketLifecycleConfiguration", "AccessDenied", 403))
    denied = read_fact(spec, context)
    assert denied.error is not None and denied.error.code == "AccessDenied"


# --- s3-retains-all-versions -------------------------------------------------------------


def test_retains_without_lifecycle_passes() -> None:
    assert judge("s3-retains-all-versions", {"s3_bucket.lifecycle": None}).passed


def test_retains_housekeeping_rules_pass() -> None:
    rule = {
        "ID": "h",
        "Status": "Enabled",
        "Filter": {},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    verdict = judge("s3-retains-all-versions", _lifecycle(rule))
    assert verdict.passed
    assert verdict.message == "no enabled lifecycle rule deletes data"


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (
            {"ID": "e", "Status": "Enabled", "Expiration": {"Days": 1}},
            "rule 'e' expires objects after 1 days",
        ),
        (
            {"ID": "d", "Status": "Enabled", "Expiration": {"Date": "2030-01-01T00:00:00Z"}},
            "rule 'd' expires objects on 2030-01-01T00:00:00Z",
        ),
        (
            {"ID": "n", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 90}},
            "rule 'n' deletes noncurrent versions",
        ),
    ],
)
def test_retains_deleting_rules_fail(rule: dict, said: str) -> None:
    verdict = judge("s3-retains-all-versions", _lifecycle(rule))
    assert not verdict.passed
    assert verdict.message.startswith(said)


def test_retains_disabled_deleting_rule_passes() -> None:
    rule = {"ID": "e", "Status": "Disabled", "Expiration": {"Days": 1}}
    assert judge("s3-retains-all-versions", _lifecycle(rule)).passed


# --- s3-policy-denies-delete -------------------------------------------------------------


def _deny(
    actions: object = ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    resource: object = "arn:aws:s3:::bucket/*",
    principal: object = "*",
    **extra: object,
) -> dict:
    statement = {
        "Effect": "Deny",
        "Principal": principal,
        "Action": list(actions) if isinstance(actions, tuple) else actions,
        "Resource": resource,
        **extra,
    }
    return {"s3_bucket.policy": {"Version": "2012-10-17", "Statement": [statement]}}


def test_policy_denies_delete_passes() -> None:
    verdict = judge("s3-policy-denies-delete", _deny())
    assert verdict.passed
    assert verdict.message == "deletion of objects and versions is denied to *"


@pytest.mark.parametrize("actions", ["s3:Delete*", "s3:*", "*", ["S3:DELETEOBJECT*"]])
def test_policy_action_wildcards_count(actions: object) -> None:
    assert judge("s3-policy-denies-delete", _deny(actions=actions)).passed


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        "arn:aws:s3:::bucket*",
        "arn:aws:s3:::*/*",
        ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
    ],
)
def test_policy_resource_wildcards_count(resource: object) -> None:
    assert judge("s3-policy-denies-delete", _deny(resource=resource)).passed


def test_policy_principal_aws_star_counts() -> None:
    assert judge("s3-policy-denies-delete", _deny(principal={"AWS": "*"})).passed
    assert judge("s3-policy-denies-delete", _deny(principal={"AWS": ["*"]})).passed


def test_policy_only_delete_object_fails() -> None:
    verdict = judge("s3-policy-denies-delete", _deny(actions=("s3:DeleteObject",)))
    assert not verdict.passed
    assert verdict.message.startswith(
        "nothing denies s3:DeleteObjectVersion to every principal on every object"
    )


def test_policy_deny_with_condition_fails() -> None:
    verdict = judge(
        "s3-policy-denies-delete",
        _deny(Condition={"StringNotEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/x"}}),
    )
    assert not verdict.passed
    assert "applies only under a Condition" in verdict.message


def test_policy_deny_for_one_principal_fails() -> None:
    verdict = judge(
        "s3-policy-denies-delete", _deny(principal={"AWS": "arn:aws:iam::111111111111:root"})
    )
    assert not verdict.passed
    assert "nothing denies s3:DeleteObject to every principal" in verdict.message


def test_policy_deny_on_a_prefix_only_fails() -> None:
    verdict = judge("s3-policy-denies-delete", _deny(resource="arn:aws:s3:::bucket/logs/*"))
    assert not verdict.passed


def test_policy_deny_on_other_bucket_fails() -> None:
    assert not judge("s3-policy-denies-delete", _deny(resource="arn:aws:s3:::other/*")).passed


def test_policy_allow_is_not_a_deny() -> None:
    facts = _deny()
    facts["s3_bucket.policy"]["Statement"][0]["Effect"] = "Allow"
    assert not judge("s3-policy-denies-delete", facts).passed


def test_policy_not_action_excluding_delete_fails_and_other_passes() -> None:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "NotAction": "s3:Get*",
        "Resource": "arn:aws:s3:::bucket/*",
    }
    assert judge("s3-policy-denies-delete", {"s3_bucket.policy": {"Statement": statement}}).passed
    statement["NotAction"] = "s3:DeleteObjectVersion"
    assert not judge(
        "s3-policy-denies-delete", {"s3_bucket.policy": {"Statement": statement}}
    ).passed


def test_policy_split_across_statements_passes() -> None:
    one = _deny(actions=("s3:DeleteObject",))["s3_bucket.policy"]["Statement"][0]
    two = _deny(actions=("s3:DeleteObjectVersion",))["s3_bucket.policy"]["Statement"][0]
    assert judge("s3-policy-denies-delete", {"s3_bucket.policy": {"Statement": [one, two]}}).passed


def test_policy_absent_fails() -> None:
    verdict = judge("s3-policy-denies-delete", {"s3_bucket.policy": None})
    assert not verdict.passed
    assert verdict.message.startswith("no bucket policy")


def test_policy_deny_with_not_resource_is_read_as_aws_does() -> None:
    """A Deny on everything but another bucket denies every object of this one (main never
    credited NotResource); one sparing this bucket's objects denies nothing here."""
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
        "NotResource": "arn:aws:s3:::other/*",
    }
    assert judge("s3-policy-denies-delete", {"s3_bucket.policy": {"Statement": statement}}).passed
    statement["NotResource"] = "arn:aws:s3:::bucket/keep/*"
    verdict = judge("s3-policy-denies-delete", {"s3_bucket.policy": {"Statement": statement}})
    assert not verdict.passed
