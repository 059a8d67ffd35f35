"""S3 buckets: the resource type, and the facts of a bucket (versioning, encryption,
public-access block, lifecycle, policy, replication) and of its account (the account-level
public-access block, its IAM roles and users)."""

import json
from typing import Any

from botocore.exceptions import ClientError

from policycheck.plugin.examples import Call
from policycheck.plugin.facts import Answered, FactSpec, FetchContext
from policycheck.plugin.resources import ListedRegions, Listing, ListingScope, ResourceType
from policycheck.sources.aws.iam import account_principals_fact


def _in_region(scope: ListingScope) -> dict[str, Any]:
    # Bucket names are global, buckets regional: list only the region's, so that an
    # environment in several regions sees each bucket once.
    return {"BucketRegion": scope.region} if scope.region else {}


S3_BUCKET = ResourceType(
    name="s3_bucket",
    label="S3 bucket",
    missing_codes=frozenset({"NoSuchBucket"}),
    arn_template="arn:aws:s3:::{name}",
    # "Bucket naming rules": 3 to 63 characters.
    max_name_length=63,
    listing=Listing(
        action="s3:ListAllMyBuckets",
        service="s3",
        operation="list_buckets",
        items="Buckets",
        name="Name",
        # Pages of MaxBuckets: AWS refuses an unpaginated ListBuckets in an account whose
        # bucket quota is above 10,000. (moto sends no continuation token: it returns at
        # most a page, which no test fleet fills.)
        page_size=10000,
        request=_in_region,
        region="BucketRegion",
    ),
    example=(
        Call(
            "s3",
            "create_bucket",
            {"Bucket": "{name}", "CreateBucketConfiguration": "{bucket_location}"},
            ignore=("BucketAlreadyOwnedByYou",),
        ),
    ),
)


def _versioning(ctx: FetchContext) -> Any:
    response = ctx.client("s3").get_bucket_versioning(Bucket=ctx.name)
    # A bucket that never had versioning answers with neither key.
    return {key: response[key] for key in ("Status", "MFADelete") if key in response}


def _encryption(ctx: FetchContext) -> Any:
    response = ctx.client("s3").get_bucket_encryption(Bucket=ctx.name)
    return response["ServerSideEncryptionConfiguration"]


def _public_access_block(ctx: FetchContext) -> Any:
    response = ctx.client("s3").get_public_access_block(Bucket=ctx.name)
    return response["PublicAccessBlockConfiguration"]


def _lifecycle(ctx: FetchContext) -> Any:
    return ctx.client("s3").get_bucket_lifecycle_configuration(Bucket=ctx.name)["Rules"]


def _policy(ctx: FetchContext) -> Any:
    return json.loads(ctx.client("s3").get_bucket_policy(Bucket=ctx.name)["Policy"])


def _replication(ctx: FetchContext) -> Any:
    return ctx.client("s3").get_bucket_replication(Bucket=ctx.name)["ReplicationConfiguration"]


def _replication_destinations(ctx: FetchContext) -> Any:
    """Region and versioning of every bucket an enabled replication rule writes to."""
    configuration = ctx.deps["s3_bucket.replication"] or {}
    arns = sorted(
        {
            rule["Destination"]["Bucket"]
            for rule in configuration.get("Rules", [])
            if rule.get("Status") == "Enabled" and "Destination" in rule
        }
    )
    s3 = ctx.client("s3")
    destinations = []
    for arn in arns:
        bucket = arn.removeprefix("arn:aws:s3:::")
        try:
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
            versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
            destinations.append({"bucket": bucket, "exists": False})
            continue
        destinations.append(
            {
                "bucket": bucket,
                "exists": True,
                "region": region_of(location),
                "versioning": versioning,
            }
        )
    return destinations


#: LocationConstraint values that are not region names (S3's legacy answers).
LEGACY_LOCATIONS = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}


def region_of(location: str | None) -> str:
    """The region a GetBucketLocation LocationConstraint names."""
    return LEGACY_LOCATIONS.get(location) or str(location)


def _region(ctx: FetchContext) -> Any:
    """The region the run's ListBuckets answer named for the bucket, where discovery
    listed its location (no request: the evidence names ListAllMyBuckets);
    GetBucketLocation's otherwise (no listing there, a bucket it did not list, or an
    answer without ``BucketRegion``, as moto's)."""
    key = ListedRegions.key(S3_BUCKET.name, ctx.account_id, ctx.region, ctx.parent)
    listed: ListedRegions | None = ctx.known(key)
    if listed is not None and ctx.name in listed.regions:
        return Answered(listed.regions[ctx.name], (listed.action,), listed.listed_at)
    return region_of(
        ctx.client("s3").get_bucket_location(Bucket=ctx.name).get("LocationConstraint")
    )


def _account_public_access_block(ctx: FetchContext) -> Any:
    response = ctx.client("s3control").get_public_access_block(AccountId=ctx.account_id)
    return response["PublicAccessBlockConfiguration"]


NO_PUBLIC_ACCESS_BLOCK = frozenset({"NoSuchPublicAccessBlockConfiguration"})


def _bucket_fact(name: str, action: str, fetch: Any, absent: str | None = None) -> FactSpec:
    return FactSpec(
        name,
        S3_BUCKET,
        (action,),
        fetch,
        absent_codes=frozenset({absent}) if absent else frozenset(),
    )


VERSIONING = _bucket_fact("s3_bucket.versioning", "s3:GetBucketVersioning", _versioning)
ENCRYPTION = _bucket_fact(
    "s3_bucket.encryption",
    "s3:GetEncryptionConfiguration",
    _encryption,
    "ServerSideEncryptionConfigurationNotFoundError",
)
PUBLIC_ACCESS_BLOCK = _bucket_fact(
    "s3_bucket.public_access_block",
    "s3:GetBucketPublicAccessBlock",
    _public_access_block,
    "NoSuchPublicAccessBlockConfiguration",
)
LIFECYCLE = _bucket_fact(
    "s3_bucket.lifecycle",
    "s3:GetLifecycleConfiguration",
    _lifecycle,
    "NoSuchLifecycleConfiguration",
)
POLICY = _bucket_fact("s3_bucket.policy", "s3:GetBucketPolicy", _policy, "NoSuchBucketPolicy")
REGION = _bucket_fact("s3_bucket.region", "s3:GetBucketLocation", _region)
REPLICATION = _bucket_fact(
    "s3_bucket.replication",
    "s3:GetReplicationConfiguration",
    _replication,
    "ReplicationConfigurationNotFoundError",
)
REPLICATION_DESTINATIONS = FactSpec(
    "s3_bucket.replication_destinations",
    S3_BUCKET,
    ("s3:GetBucketLocation", "s3:GetBucketVersioning"),
    _replication_destinations,
    depends_on=(REPLICATION,),
)
ACCOUNT_PUBLIC_ACCESS_BLOCK = FactSpec(
    "s3_account.public_access_block",
    S3_BUCKET,
    ("s3:GetAccountPublicAccessBlock",),
    _account_public_access_block,
    scope="account",
    absent_codes=NO_PUBLIC_ACCESS_BLOCK,
)
#: Every role and user of the account with its policies: who else can write a bucket.
ACCOUNT_PRINCIPALS = account_principals_fact("s3_account.iam_principals", S3_BUCKET)
