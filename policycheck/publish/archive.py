"""The evidence archive: a report set kept in S3 (a bucket with versioning and Object
Lock) for as long as the policy wants evidence kept, since CI artifacts last 90 days; and
read back from there one report at a time.

A set goes under ``PREFIX/ENV-or-merged/YYYY/MM/DD/RUN-ID/``. It is checked against its
SHA256SUMS before upload, each object carries its MD5 and SHA-256 (S3 refuses a body that
does not match), nothing is ever overwritten (``If-None-Match: *``), and after upload the
archive's SHA-256 of each object is compared with SHA256SUMS again."""

import base64
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from policycheck.errors import InputError, aws_error
from policycheck.publish.staging import CHECKSUMS

if TYPE_CHECKING:
    from policycheck.report.history import NamedReport
    from policycheck.report.model import Report

SCHEME = "s3://"
REPORT_NAME = "report.json"
#: Object Lock mode of the evidence: not even the bucket's owner can shorten it.
RETENTION_MODE = "COMPLIANCE"
_CHUNK = 1 << 20


def is_archive(text: str) -> bool:
    return text.startswith(SCHEME)


@dataclass(frozen=True)
class ArchiveLocation:
    """``s3://BUCKET/PREFIX``."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> "ArchiveLocation":
        bucket, _, prefix = text.removeprefix(SCHEME).partition("/")
        if not is_archive(text) or not bucket or "//" in prefix:
            raise InputError(f"{text}: expected s3://BUCKET/PREFIX")
        return cls(bucket, prefix.strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def uri(self, key: str = "") -> str:
        return f"{SCHEME}{self.bucket}/{key or self.prefix}"


def retain_until(text: str, now: datetime) -> datetime:
    """``3y`` (calendar years) or ``400d`` from ``now``; InputError otherwise."""
    number, unit = text[:-1], text[-1:]
    if not number.isdigit() or int(number) < 1 or unit not in ("y", "d"):
        raise InputError(f"--retain {text!r}: expected years or days, e.g. 3y or 400d")
    if unit == "d":
        return now + timedelta(days=int(number))
    year = now.year + int(number)
    day = min(now.day, 28) if (now.month, now.day) == (2, 29) else now.day
    return now.replace(year=year, day=day)


def checked_set(directory: Path) -> dict[str, str]:
    """Each file SHA256SUMS lists and its SHA-256, once every file is read and matches;
    InputError naming the first file that is missing, differs or is not listed."""
    sums_path = directory / CHECKSUMS
    try:
        lines = sums_path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{sums_path}: cannot read: {exc}") from None
    listed: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not name or "/" in name:
            raise InputError(f"{sums_path}:{number}: not a sha256sum line")
        listed[name] = digest
    if REPORT_NAME not in listed:
        raise InputError(f"{sums_path}: lists no {REPORT_NAME}; not a report set")
    for name, digest in listed.items():
        actual = _digests(directory / name)[1].hex()
        if actual != digest:
            raise InputError(f"{directory / name}: SHA-256 differs from {CHECKSUMS}")
    unlisted = sorted(
        p.name for p in directory.iterdir() if p.is_file() and p.name not in {*listed, CHECKSUMS}
    )
    if unlisted:
        raise InputError(f"{directory / unlisted[0]}: not in {CHECKSUMS}")
    return listed


def _digests(path: Path) -> tuple[bytes, bytes]:
    """MD5 and SHA-256 of a file, read in chunks."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    try:
        with open(path, "rb") as file:
            while chunk := file.read(_CHUNK):
                md5.update(chunk)
                sha256.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return md5.digest(), sha256.digest()


def run_folder(directory: Path, run_id: str | None) -> str:
    """``ENV-or-merged/YYYY/MM/DD/RUN-ID`` of the report set in ``directory``: the run's
    one environment (else ``merged``), its UTC start day, and ``run_id`` (default: the
    start time and the report's SHA-256, which two runs never share)."""
    from policycheck.report.history import started_at
    from policycheck.report.reader import read_report

    path = directory / REPORT_NAME
    report = read_report(path)  # the read-time integrity checks: no broken report is kept
    started = started_at(report.run.started_at, path)
    environments = {env.name for env in report.run.environments}
    scope = environments.pop() if len(environments) == 1 else "merged"
    run = run_id or f"{started:%H%M%SZ}-{_digests(path)[1].hex()[:12]}"
    if not run or "/" in run or run in (".", ".."):
        raise InputError(f"--run-id {run!r}: expected a name without /")
    return f"{scope}/{started:%Y/%m/%d}/{run}"


@dataclass(frozen=True)
class Archived:
    """What archive() put where, and until when the archive keeps it."""

    uri: str
    objects: list[str]
    retained_until: datetime | None


def archive(
    directory: Path,
    location: ArchiveLocation,
    client: Any,
    *,
    retain: str | None = None,
    run_id: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Archived:
    """Upload the report set in ``directory`` under ``location``; InputError, before any
    upload, for a set that does not match its SHA256SUMS, a bucket that is missing or
    refuses the write, a run already archived, or --retain on a bucket without Object Lock;
    after upload, for an object whose SHA-256 in the archive is not the set's."""
    listed = checked_set(directory)
    folder = location.key(run_folder(directory, run_id))
    locked = _probe(client, location, folder)
    if retain and not locked:
        raise InputError(
            f"{location.uri()}: the bucket has no Object Lock, so --retain {retain} cannot "
            "be honoured; create it with Object Lock (examples/archive-bucket/)"
        )
    until = retain_until(retain, now()) if retain else None
    names = [*listed, CHECKSUMS]
    for name in names:
        _put(client, location.bucket, f"{folder}/{name}", directory / name, until)
    for name, digest in {**listed, CHECKSUMS: _digests(directory / CHECKSUMS)[1].hex()}.items():
        _verify(client, location, f"{folder}/{name}", digest)
    return Archived(location.uri(folder), names, until)


def _call(where: str, method: Callable[..., Any], *args: Any, **params: Any) -> Any:
    """An S3 call; its refusal is InputError with the AWS error code."""
    with _refused(where):
        return method(*args, **params)


@contextmanager
def _refused(where: str) -> Iterator[None]:
    """S3's refusal, of the calls inside, as InputError with the AWS error code."""
    try:
        yield
    except ClientError as exc:
        code, message = aws_error(exc)
        raise InputError(f"{where}: {code}: {message}") from None
    except BotoCoreError as exc:
        raise InputError(f"{where}: {exc}") from None


def _probe(client: Any, location: ArchiveLocation, folder: str) -> bool:
    """Before anything is uploaded: the bucket exists, nothing is archived under this
    run's folder, and a write is allowed (a multipart upload started and aborted, which
    leaves no object). Whether the bucket has Object Lock."""
    bucket = location.bucket
    _call(f"{location.uri()}: no such bucket, or not allowed", client.head_bucket, Bucket=bucket)
    existing = _call(
        location.uri(folder), client.list_objects_v2, Bucket=bucket, Prefix=f"{folder}/", MaxKeys=1
    )
    if existing.get("KeyCount", 0):
        raise InputError(f"{location.uri(folder)}: already archived; it is never overwritten")
    probe = {"Bucket": bucket, "Key": f"{folder}/{REPORT_NAME}"}
    where = f"{location.uri(probe['Key'])}: write refused"
    upload = _call(where, client.create_multipart_upload, **probe)
    _call(where, client.abort_multipart_upload, **probe, UploadId=upload["UploadId"])
    try:
        lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if aws_error(exc)[0] == "ObjectLockConfigurationNotFoundError":
            return False
        code, message = aws_error(exc)
        raise InputError(f"{location.uri()}: {code}: {message}") from None
    return bool(lock.get("ObjectLockEnabled") == "Enabled")


def _put(client: Any, bucket: str, key: str, path: Path, until: datetime | None) -> None:
    md5, sha256 = _digests(path)
    retention = (
        {"ObjectLockMode": RETENTION_MODE, "ObjectLockRetainUntilDate": until} if until else {}
    )
    with open(path, "rb") as body:
        _call(
            f"{SCHEME}{bucket}/{key}",
            client.put_object,
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentMD5=base64.b64encode(md5).decode(),
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(sha256).decode(),
            IfNoneMatch="*",
            **retention,
        )


def _verify(client: Any, location: ArchiveLocation, key: str, digest: str) -> None:
    """The archive's SHA-256 of the object is the one SHA256SUMS lists."""
    head = _call(
        location.uri(key),
        client.head_object,
        Bucket=location.bucket,
        Key=key,
        ChecksumMode="ENABLED",
    )
    stored = head.get("ChecksumSHA256", "")
    if base64.b64decode(stored).hex() != digest:
        raise InputError(f"{location.uri(key)}: the archive's SHA-256 differs from {CHECKSUMS}")


def archived_reports(client: Any, location: ArchiveLocation) -> Iterator[str]:
    """The keys of every report.json under the location, all pages, in key order (which
    is by scope and day)."""
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.key() + "/" if location.prefix else ""
    )
    found = False
    with _refused(location.uri()):
        for page in pages:
            for item in page.get("Contents", []):
                if item["Key"].rsplit("/", 1)[-1] == REPORT_NAME:
                    found = True
                    yield item["Key"]
    if not found:
        raise InputError(f"{location.uri()}: no {REPORT_NAME} under it")


def archived_sources(client: Any, location: ArchiveLocation) -> "Iterator[NamedReport]":
    """Each report of the archive, downloaded (streamed) into one scratch file when it is
    its turn to be read: memory and disk hold one report at a time."""
    with tempfile.TemporaryDirectory(prefix="policycheck-archive-") as scratch:
        path = Path(scratch) / REPORT_NAME
        for key in archived_reports(client, location):
            yield _downloaded(client, location, key, path)


def _downloaded(client: Any, location: ArchiveLocation, key: str, path: Path) -> "NamedReport":
    """The object ``key`` streamed into ``path``, to be read as its URI."""
    from policycheck.report.history import NamedReport

    with open(path, "wb") as file:
        _call(location.uri(key), client.download_fileobj, location.bucket, key, file)
    return NamedReport(location.uri(key), path)


def read_located(where: "str | Path") -> "Report":
    """A saved report, from a file or from the archive (``s3://BUCKET/KEY``, downloaded
    into a scratch file), with the read-time checks; InputError naming it as given."""
    from policycheck.report.reader import read_report

    if not is_archive(str(where)):
        return read_report(Path(where))
    location = ArchiveLocation.parse(str(where))
    with tempfile.TemporaryDirectory(prefix="policycheck-archive-") as scratch:
        path = Path(scratch) / REPORT_NAME
        return _downloaded(s3_client(), location, location.prefix, path).read()


def s3_client(endpoint_url: str | None = None) -> Any:
    """An S3 client from the standard credential chain (AWS_ENDPOINT_URL honoured)."""
    from policycheck.engine.aws import (
        client_config,
        configured_endpoint,
        default_session,
        make_client,
    )

    session = default_session(boto3_region())
    return make_client(
        session, "s3", session.region_name, configured_endpoint(endpoint_url), client_config(4)
    )


def boto3_region() -> str:
    """The region of the standard configuration, else us-east-1 (S3 redirects)."""
    import boto3

    return boto3.Session().region_name or "us-east-1"
