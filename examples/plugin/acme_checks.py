"""A check of your own, without a fork: every bucket carries an ``owner`` tag (who answers
for its backups). Declared as policycheck declares its built-in checks: a fact (how it is
read, with its IAM action), and a check (a pure function of the facts) with its examples,
from which `demo` and the tests seed a compliant and a deviating bucket.

Load it from the policy (the module must be importable: on PYTHONPATH, or installed):

    plugins:
      modules: [acme_checks]
    checks:
      - check: s3-owner-tagged
        resources: [state_bucket]
"""

from typing import Any

from policycheck.plugin.check import Facts, NoParams, Verdict, check, judge
from policycheck.plugin.examples import Call, Deviation, Examples
from policycheck.plugin.facts import FactSpec, FetchContext
from policycheck.sources.aws.s3 import S3_BUCKET


def _tags(ctx: FetchContext) -> Any:
    tags = ctx.client("s3").get_bucket_tagging(Bucket=ctx.name)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tags}


#: A bucket without tags answers NoSuchTagSet: the fact's value is then None (no tags).
TAGS = FactSpec(
    "acme.s3_bucket.tags",
    S3_BUCKET,
    ("s3:GetBucketTagging",),
    _tags,
    absent_codes=frozenset({"NoSuchTagSet"}),
)


def _tagging(tags: dict[str, str]) -> Call:
    return Call(
        "s3",
        "put_bucket_tagging",
        {
            "Bucket": "{name}",
            "Tagging": {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
        },
    )


@check(
    id="s3-owner-tagged",
    passes="the bucket has a non-empty `owner` tag",
    examples=Examples(
        compliant=(_tagging({"owner": "platform-team"}),),
        deviation=Deviation("tagged without an owner", (_tagging({"team": "platform"}),)),
    ),
    title="S3 bucket names the owner of its backups",
    resource_type="s3_bucket",
    severity="medium",
    facts=("acme.s3_bucket.tags",),
    remediation=(
        "aws s3api put-bucket-tagging --bucket {name} --tagging 'TagSet=[{{Key=owner,Value=TEAM}}]'"
    ),
)
def owner_tagged(facts: Facts, params: NoParams) -> Verdict:
    tags = facts["acme.s3_bucket.tags"] or {}
    owner = str(tags.get("owner", "")).strip()
    return judge(
        bool(owner),
        f"owner tag is {owner!r}" if owner else "no owner tag",
        "a non-empty owner tag",
        expected={"owner": "(a team)"},
        observed=tags,
    )
