"""A synthetic fleet: N buckets, tables and repositories whose settings are drawn from a
seed, answered by the replay server without seeding moto with them.

Each fact of a synthetic resource takes one of a few settings (versioning Enabled,
Suspended or never set; ...), drawn independently per resource and fact from the seed. A
handful of *template* resources in moto hold those settings (``tpl-bucket-0`` holds the
first setting of every bucket fact, ``tpl-bucket-1`` the second, ...); their answers are
recorded once through the benchmark's middleware (:meth:`Fleet.learn`). The replay server
then answers a request about ``bench-bucket-000042`` with the answer recorded for the
template holding that bucket's setting, the template's name replaced by the bucket's
(:meth:`Fleet.answer`), and the list calls (ListBuckets, ListTables,
DescribeRepositories, every page) with the synthetic names beside the demo platform's.
Some settings are answered without a template (AccessDenied). The ground truth of every
check on every synthetic resource follows from the settings drawn.
"""

import hashlib
import json
import re
import zlib
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from botocore.exceptions import ClientError

from yardstick import read_calls

#: (status line, headers, body), as bench/replay.py serves it.
Answer = tuple[str, list[tuple[str, str]], bytes]
Call = tuple[str, str, dict[str, Any]]

ACCOUNT = "123456789012"  # moto's default account
NAME = re.compile(rb"(bench|tpl)-(bucket|table|repo)-(\d+)")
S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
DYNAMODB, ECR = "DynamoDB_20120810.", "AmazonEC2ContainerRegistry_V20150921."
#: The pages policycheck (and the yardstick) ask for: MaxBuckets, Limit, maxResults.
PAGE_SIZES = {"bucket": 10000, "table": 100, "repo": 1000}


@dataclass(frozen=True)
class Setting:
    """One way a fact can be set: how a template gets it, how often it is drawn, and the
    verdict of the check reading the fact. ``error``: answered without a template, with
    this AWS error code (HTTP 403)."""

    label: str
    weight: float
    status: str
    apply: Callable[[str], list[Call]] = lambda name: []
    error: str = ""


@dataclass(frozen=True)
class Fact:
    """A fact of a kind of resource: the operation that reads it (the S3 sub-resource or
    the JSON target's operation), the check it decides, its settings."""

    operation: str
    check: str
    settings: tuple[Setting, ...]


def _lifecycle(expire_days: int) -> Callable[[str], list[Call]]:
    rule = {
        "ID": "audit",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}],
        "Expiration": {"Days": expire_days},
    }
    return lambda name: [
        (
            "s3",
            "put_bucket_lifecycle_configuration",
            {"Bucket": name, "LifecycleConfiguration": {"Rules": [rule]}},
        )
    ]


def _deny_delete(name: str) -> list[Call]:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return [("s3", "put_bucket_policy", {"Bucket": name, "Policy": policy})]


def _block(flags: int) -> Callable[[str], list[Call]]:
    names = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    configuration = {flag: index < flags for index, flag in enumerate(names)}
    return lambda name: [
        (
            "s3",
            "put_public_access_block",
            {"Bucket": name, "PublicAccessBlockConfiguration": configuration},
        )
    ]


def _encrypt(algorithm: str) -> Callable[[str], list[Call]]:
    rules = [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm}}]
    return lambda name: [
        (
            "s3",
            "put_bucket_encryption",
            {"Bucket": name, "ServerSideEncryptionConfiguration": {"Rules": rules}},
        )
    ]


def _versioning(status: str) -> Callable[[str], list[Call]]:
    return lambda name: [
        (
            "s3",
            "put_bucket_versioning",
            {"Bucket": name, "VersioningConfiguration": {"Status": status}},
        )
    ]


def _pitr(days: int) -> Callable[[str], list[Call]]:
    specification = {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": days}
    return lambda name: [
        (
            "dynamodb",
            "update_continuous_backups",
            {"TableName": name, "PointInTimeRecoverySpecification": specification},
        )
    ]


def _ttl(name: str) -> list[Call]:
    specification = {"Enabled": True, "AttributeName": "expires_at"}
    return [
        (
            "dynamodb",
            "update_time_to_live",
            {"TableName": name, "TimeToLiveSpecification": specification},
        )
    ]


def _keep_tagged(count: int) -> Callable[[str], list[Call]]:
    rule = {
        "rulePriority": 1,
        "selection": {
            "tagStatus": "tagged",
            "tagPatternList": ["*"],
            "countType": "imageCountMoreThan",
            "countNumber": count,
        },
        "action": {"type": "expire"},
    }
    text = json.dumps({"rules": [rule]})
    return lambda name: [
        ("ecr", "put_lifecycle_policy", {"repositoryName": name, "lifecyclePolicyText": text})
    ]


def _image(manifest: str) -> Callable[[str], list[Call]]:
    return lambda name: [
        ("ecr", "put_image", {"repositoryName": name, "imageManifest": manifest, "imageTag": "v1"})
    ]


def kinds(manifest: str) -> dict[str, tuple[Fact, ...]]:
    """Every kind's facts and their settings (the first setting of each passes)."""
    return {
        "bucket": (
            Fact(
                "versioning",
                "s3-versioning-enabled",
                (
                    Setting("Enabled", 0.7, "pass", _versioning("Enabled")),
                    Setting("Suspended", 0.15, "fail", _versioning("Suspended")),
                    Setting("never enabled", 0.15, "fail"),
                ),
            ),
            Fact(
                "encryption",
                "s3-encryption-at-rest",
                (
                    Setting("AES256", 0.6, "pass", _encrypt("AES256")),
                    Setting("aws:kms", 0.2, "pass", _encrypt("aws:kms")),
                    Setting("none", 0.2, "fail"),
                ),
            ),
            Fact(
                "publicAccessBlock",
                "s3-public-access-blocked",
                (
                    Setting("all four flags", 0.7, "pass", _block(4)),
                    Setting("three flags", 0.15, "fail", _block(3)),
                    Setting("none", 0.15, "fail"),
                ),
            ),
            Fact(
                "lifecycle",
                "s3-lifecycle-archive-and-expire",
                (
                    Setting("Glacier at 90, expire at 365", 0.6, "pass", _lifecycle(365)),
                    Setting("expire at 180", 0.2, "fail", _lifecycle(180)),
                    Setting("none", 0.2, "fail"),
                ),
            ),
            Fact(
                "policy",
                "s3-policy-denies-delete",
                (
                    Setting("denies delete", 0.7, "pass", _deny_delete),
                    Setting("none", 0.29, "fail"),
                    Setting("GetBucketPolicy denied", 0.01, "error", error="AccessDenied"),
                ),
            ),
        ),
        "table": (
            Fact(
                "DescribeContinuousBackups",
                "dynamodb-pitr-enabled",
                (
                    Setting("PITR 35 days", 0.6, "pass", _pitr(35)),
                    Setting("PITR 7 days", 0.2, "fail", _pitr(7)),
                    Setting("PITR off", 0.2, "fail"),
                ),
            ),
            Fact(
                "DescribeTimeToLive",
                "dynamodb-ttl-enabled",
                (Setting("TTL on", 0.7, "pass", _ttl), Setting("TTL off", 0.3, "fail")),
            ),
        ),
        "repo": (
            Fact(
                "GetLifecyclePolicy",
                "ecr-lifecycle-retains-tagged",
                (
                    Setting("keeps 10 tagged", 0.6, "pass", _keep_tagged(10)),
                    Setting("keeps 5 tagged", 0.2, "fail", _keep_tagged(5)),
                    Setting("none", 0.2, "fail"),
                ),
            ),
            Fact(
                "DescribeImages",
                "ecr-image-available",
                (
                    Setting("a tagged image", 0.8, "pass", _image(manifest)),
                    Setting("no image", 0.2, "fail"),
                ),
            ),
        ),
    }


#: The creation call of a template resource, by kind.
CREATE: dict[str, Callable[[str, str], Call]] = {
    "bucket": lambda name, region: (
        "s3",
        "create_bucket",
        {"Bucket": name, "CreateBucketConfiguration": {"LocationConstraint": region}},
    ),
    "table": lambda name, region: (
        "dynamodb",
        "create_table",
        {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        },
    ),
    "repo": lambda name, region: ("ecr", "create_repository", {"repositoryName": name}),
}


@dataclass
class Fleet:
    """The synthetic fleet of a seed and sizes, its templates' answers and the names the
    list calls add to the platform's."""

    seed: int
    counts: dict[str, int]
    manifest: str
    region: str
    facts: dict[str, tuple[Fact, ...]] = field(init=False)
    #: (kind, operation, setting index) -> the template's answer.
    templates: dict[tuple[str, str, int], Answer] = field(default_factory=dict)
    #: Names of the demo platform's resources, by kind, for the list calls.
    platform: dict[str, list[str]] = field(default_factory=dict)
    _pages: dict[tuple[str, str], Answer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.facts = kinds(self.manifest)

    @staticmethod
    def name(kind: str, index: int) -> str:
        return f"bench-{kind}-{index:06d}"

    def pages(self) -> dict[str, int]:
        """The pages of each listing (the fleet's names and the platform's), by kind."""
        return {
            kind: max(1, -(-(count + len(self.platform.get(kind, []))) // PAGE_SIZES[kind]))
            for kind, count in self.counts.items()
        }

    def names(self, kind: str) -> list[str]:
        return [self.name(kind, i) for i in range(self.counts[kind])]

    def setting(self, kind: str, name: str, fact: Fact) -> int:
        """The index of the setting ``name`` has for ``fact``: drawn from the seed."""
        digest = hashlib.blake2b(f"{self.seed}|{name}|{fact.operation}".encode(), digest_size=8)
        draw = int.from_bytes(digest.digest()) / 2**64
        for index, setting in enumerate(fact.settings):
            draw -= setting.weight
            if draw < 0:
                return index
        return len(fact.settings) - 1

    def truth(self, environment: str) -> dict[str, str]:
        """environment|check|name -> the status the check must have."""
        return {
            f"{environment}|{fact.check}|{name}": fact.settings[
                self.setting(kind, name, fact)
            ].status
            for kind, facts in self.facts.items()
            for name in self.names(kind)
            for fact in facts
        }

    # -- templates ------------------------------------------------------------------------

    def template_calls(self) -> list[Call]:
        """The calls that create the template resources in moto."""
        calls = []
        for kind, facts in self.facts.items():
            for index in range(max(len(fact.settings) for fact in facts)):
                name = f"tpl-{kind}-{index}"
                calls.append(CREATE[kind](name, self.region))
                for fact in facts:
                    if index < len(fact.settings):
                        calls += fact.settings[index].apply(name)
        return calls

    def read_templates(self, clients: dict[str, Any]) -> None:
        """Read every template's facts (through the recording middleware: see learn)."""
        for kind, facts in self.facts.items():
            for index in range(max(len(fact.settings) for fact in facts)):
                for operation, params in read_calls(clients, kind, f"tpl-{kind}-{index}"):
                    with suppress(ClientError):  # "not configured" answers are recorded too
                        operation(**params)

    def learn(
        self, method: str, path: str, query: str, target: str, body: bytes, answer: Answer
    ) -> None:
        """Keep a template's recorded answer (the middleware calls this for every request)."""
        found = _subject(path, body)
        if found and found[0] == b"tpl":
            kind = found[1].decode()
            self.templates[(kind, _operation(query, target), int(found[2]))] = answer

    # -- answers --------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: str, target: str, body: bytes) -> Answer | None:
        """The answer to a request about the synthetic fleet, or None (not ours: the
        recording answers it)."""
        if method == "GET" and path == "/":
            return self._list_page("bucket", query, body)
        if target in (DYNAMODB + "ListTables", ECR + "DescribeRepositories") and (
            b"repositoryNames" not in body
        ):
            return self._list_page("table" if target.startswith(DYNAMODB) else "repo", query, body)
        found = _subject(path, body)
        if not found or found[0] != b"bench":
            return None
        kind, operation, name = (
            found[1].decode(),
            _operation(query, target),
            found[0] + b"-" + found[1] + b"-" + found[2],
        )
        if operation == "GetResourcePolicy":  # no fleet table has a resource policy
            return _error("PolicyNotFoundException", target)
        fact = next((f for f in self.facts[kind] if f.operation == operation), None)
        if fact is None:
            return None
        index = self.setting(kind, name.decode(), fact)
        setting = fact.settings[index]
        if setting.error:
            return _error(setting.error, target)
        status, headers, payload = self.templates[(kind, operation, index)]
        payload = payload.replace(f"tpl-{kind}-{index}".encode(), name)
        return status, _with_crc(headers, payload), payload

    def _list_page(self, kind: str, query: str, body: bytes) -> Answer:
        key = (kind, query + body.decode())
        if key not in self._pages:
            names = sorted(self.platform.get(kind, []) + self.names(kind))
            self._pages[key] = LISTS[kind](names, parse_qs(query), json.loads(body or b"{}"))
        return self._pages[key]


def _subject(path: str, body: bytes) -> tuple[bytes, bytes, bytes] | None:
    found = NAME.search(path.encode()) or NAME.search(body)
    return (found.group(1), found.group(2), found.group(3)) if found else None


def _operation(query: str, target: str) -> str:
    if target:
        return target.rsplit(".", 1)[-1]
    return query.split("&", 1)[0].split("=", 1)[0]


def _with_crc(headers: list[tuple[str, str]], payload: bytes) -> list[tuple[str, str]]:
    """DynamoDB answers carry the CRC32 of their body (botocore checks it)."""
    return [
        (name, str(zlib.crc32(payload)) if name.lower() == "x-amz-crc32" else value)
        for name, value in headers
    ]


def _error(code: str, target: str) -> Answer:
    if target:
        payload = json.dumps({"__type": code, "message": "denied by the bench"}).encode()
        return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")], payload
    payload = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        "<Message>Access Denied</Message><RequestId>bench</RequestId></Error>"
    ).encode()
    return "403 Forbidden", [("Content-Type", "application/xml")], payload


def _json(document: dict[str, Any], crc: bool = False) -> Answer:
    payload = json.dumps(document).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0")]
    if crc:
        headers.append(("x-amz-crc32", str(zlib.crc32(payload))))
    return "200 OK", headers, payload


def _after(names: list[str], start: str | None, size: int) -> tuple[list[str], str | None]:
    """A page of at most ``size`` names after ``start``; the next start, if any."""
    begin = 0
    if start:
        begin = next((i for i, n in enumerate(names) if n > start), len(names))
    page = names[begin : begin + size]
    more = begin + size < len(names)
    return page, page[-1] if more and page else None


def _buckets(names: list[str], query: dict[str, list[str]], _: Any) -> Answer:
    size = int(query.get("max-buckets", [str(PAGE_SIZES["bucket"])])[0])
    page, following = _after(names, query.get("continuation-token", [None])[0], size)
    items = "".join(
        f"<Bucket><Name>{n}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"
        for n in page
    )
    token = f"<ContinuationToken>{following}</ContinuationToken>" if following else ""
    payload = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<ListAllMyBucketsResult xmlns="{S3_XMLNS}">'
        f"<Buckets>{items}</Buckets><Owner><DisplayName>webfile</DisplayName>"
        f"<ID>bcaf1ffd86f41161ca5fb16fd081034f</ID></Owner>{token}</ListAllMyBucketsResult>"
    ).encode()
    return "200 OK", [("Content-Type", "application/xml")], payload


def _tables(names: list[str], _: Any, request: dict[str, Any]) -> Answer:
    page, following = _after(
        names, request.get("ExclusiveStartTableName"), request.get("Limit", 100)
    )
    document: dict[str, Any] = {"TableNames": page}
    if following:
        document["LastEvaluatedTableName"] = following
    return _json(document, crc=True)


def _repositories(names: list[str], _: Any, request: dict[str, Any]) -> Answer:
    page, following = _after(names, request.get("nextToken"), request.get("maxResults", 1000))
    document: dict[str, Any] = {
        "repositories": [
            {
                "repositoryArn": f"arn:aws:ecr:eu-central-1:{ACCOUNT}:repository/{name}",
                "registryId": ACCOUNT,
                "repositoryName": name,
                "repositoryUri": f"{ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/{name}",
            }
            for name in page
        ]
    }
    if following:
        document["nextToken"] = following
    return _json(document)


LISTS: dict[str, Callable[[list[str], dict[str, list[str]], dict[str, Any]], Answer]] = {
    "bucket": _buckets,
    "table": _tables,
    "repo": _repositories,
}
