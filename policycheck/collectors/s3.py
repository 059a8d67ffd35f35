"""S3 facts: bucket versioning, encryption, public-access block, lifecycle, policy, and the
account-level public-access block."""

import json
from typing import Any

from policycheck.facts import FactSpec, register_fact


def _versioning(client: Any, bucket: str, _account_id: str) -> dict[str, Any]:
    response = client.get_bucket_versioning(Bucket=bucket)
    # A bucket that never had versioning answers with neither key.
    return {key: response[key] for key in ("Status", "MFADelete") if key in response}


def _encryption(client: Any, bucket: str, _account_id: str) -> dict[str, Any]:
    return client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]


def _public_access_block(client: Any, bucket: str, _account_id: str) -> dict[str, Any]:
    return client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]


def _lifecycle(client: Any, bucket: str, _account_id: str) -> list[dict[str, Any]]:
    return client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]


def _policy(client: Any, bucket: str, _account_id: str) -> dict[str, Any]:
    return json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])


def _account_public_access_block(client: Any, _name: str, account_id: str) -> dict[str, Any]:
    return client.get_public_access_block(AccountId=account_id)["PublicAccessBlockConfiguration"]


NO_PUBLIC_ACCESS_BLOCK = frozenset({"NoSuchPublicAccessBlockConfiguration"})

VERSIONING = register_fact(
    FactSpec("s3_bucket.versioning", "s3_bucket", "s3", "s3:GetBucketVersioning", _versioning)
)
ENCRYPTION = register_fact(
    FactSpec(
        "s3_bucket.encryption",
        "s3_bucket",
        "s3",
        "s3:GetEncryptionConfiguration",
        _encryption,
        absent_codes=frozenset({"ServerSideEncryptionConfigurationNotFoundError"}),
    )
)
PUBLIC_ACCESS_BLOCK = register_fact(
    FactSpec(
        "s3_bucket.public_access_block",
        "s3_bucket",
        "s3",
        "s3:GetBucketPublicAccessBlock",
        _public_access_block,
        absent_codes=NO_PUBLIC_ACCESS_BLOCK,
    )
)
LIFECYCLE = register_fact(
    FactSpec(
        "s3_bucket.lifecycle",
        "s3_bucket",
        "s3",
        "s3:GetLifecycleConfiguration",
        _lifecycle,
        absent_codes=frozenset({"NoSuchLifecycleConfiguration"}),
    )
)
POLICY = register_fact(
    FactSpec(
        "s3_bucket.policy",
        "s3_bucket",
        "s3",
        "s3:GetBucketPolicy",
        _policy,
        absent_codes=frozenset({"NoSuchBucketPolicy"}),
    )
)
ACCOUNT_PUBLIC_ACCESS_BLOCK = register_fact(
    FactSpec(
        "s3_account.public_access_block",
        "s3_bucket",
        "s3control",
        "s3:GetAccountPublicAccessBlock",
        _account_public_access_block,
        scope="account",
        absent_codes=NO_PUBLIC_ACCESS_BLOCK,
    )
)
