"""The evidence archive in S3 (moto, real boto3 calls): what `archive` uploads where, with
which checksums and retention; what it refuses before uploading anything; and history read
back from it one report at a time, with the read-time checks."""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from policycheck.demo.seeding import seed
from policycheck.errors import InputError
from policycheck.iam.generator import ARCHIVE_BUCKET_ACTIONS, ARCHIVE_OBJECT_ACTIONS
from policycheck.publish import CHECKSUMS
from policycheck.publish.archive import ArchiveLocation, archive, archived_sources, retain_until
from policycheck.render import FORMATS
from support.faults import Fault
from support.harness import (
    REPO,
    MotoServer,
    Workspace,
    audit,
    new_workspace,
    run_cli,
    without_real_aws,
)

REGION = "eu-central-1"
NOW = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)


def _s3(moto: MotoServer):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _bucket(moto: MotoServer, name: str, object_lock: bool) -> None:
    _s3(moto).create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},
        ObjectLockEnabledForBucket=object_lock,
    )


def _keys(moto: MotoServer, bucket: str) -> list[str]:
    return [o["Key"] for o in _s3(moto).list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture(scope="module")
def dev_report_set(_moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report set of dev, as a nightly run writes it (a live run, against moto), made
    once for the module; the server is emptied again after it."""
    workspace = new_workspace(tmp_path_factory.mktemp("nightly"))
    _moto_server.empty()
    with pytest.MonkeyPatch.context() as monkeypatch:
        without_real_aws(monkeypatch)
        seed(workspace.policy, _moto_server.url, environments=["dev"])
        out = workspace.directory / "reports"
        result, _ = audit(_moto_server, workspace, "--env", "dev", out=out)
    assert result.returncode == 0, result.stderr
    _moto_server.empty()
    return out


@pytest.fixture
def report_set(dev_report_set: Path, tmp_path: Path) -> Path:
    """The test's own copy of the dev report set (some tests change it)."""
    return Path(shutil.copytree(dev_report_set, tmp_path / "reports"))


def _env(moto: MotoServer) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }


def test_archive_with_object_lock_retention(moto: MotoServer, report_set: Path) -> None:
    _bucket(moto, "evidence", object_lock=True)
    archived = archive(
        report_set,
        ArchiveLocation.parse("s3://evidence/nightly"),
        _s3(moto),
        retain="3y",
        run_id="123-1",
        now=lambda: NOW,
    )
    report = json.loads((report_set / "report.json").read_text())
    day = datetime.fromisoformat(report["run"]["started_at"]).astimezone(UTC)
    folder = f"nightly/dev/{day:%Y/%m/%d}/123-1"
    assert archived.uri == f"s3://evidence/{folder}"
    names = sorted(p.name for p in report_set.iterdir())
    assert sorted(_keys(moto, "evidence")) == [f"{folder}/{name}" for name in names]
    for name in names:
        head = _s3(moto).head_object(
            Bucket="evidence", Key=f"{folder}/{name}", ChecksumMode="ENABLED"
        )
        digest = hashlib.sha256((report_set / name).read_bytes()).digest()
        assert base64.b64decode(head["ChecksumSHA256"]) == digest
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == datetime(2029, 12, 7, 23, 0, tzinfo=UTC)


def test_archive_cli_says_where_and_until_when(moto: MotoServer, report_set: Path) -> None:
    _bucket(moto, "evidence", object_lock=True)
    result = run_cli(
        "archive", report_set, "s3://evidence/nightly", "--retain", "400d", env=_env(moto)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("archived: s3://evidence/nightly/dev/")
    assert "SHA-256 verified" in result.stdout
    assert "retention: Object Lock COMPLIANCE until " in result.stdout
    assert len(_keys(moto, "evidence")) == 3


def test_archive_never_overwrites(moto: MotoServer, report_set: Path) -> None:
    _bucket(moto, "evidence", object_lock=False)
    args = ("archive", report_set, "s3://evidence/nightly", "--run-id", "7")
    assert run_cli(*args, env=_env(moto)).returncode == 0
    before = {
        k: _s3(moto).head_object(Bucket="evidence", Key=k)["ETag"] for k in _keys(moto, "evidence")
    }
    again = run_cli(*args, env=_env(moto))
    assert again.returncode == 2
    assert "already archived; it is never overwritten" in again.stderr
    after = {
        k: _s3(moto).head_object(Bucket="evidence", Key=k)["ETag"] for k in _keys(moto, "evidence")
    }
    assert after == before


def test_missing_bucket_is_exit_2(moto: MotoServer, report_set: Path) -> None:
    result = run_cli("archive", report_set, "s3://no-such-bucket/nightly", env=_env(moto))
    assert result.returncode == 2
    assert "s3://no-such-bucket/nightly: no such bucket, or not allowed: 404" in result.stderr


def test_refused_write_is_exit_2_before_anything_is_uploaded(
    moto: MotoServer, report_set: Path
) -> None:
    _bucket(moto, "evidence", object_lock=False)
    moto.faults.add(Fault("CreateMultipartUpload", "AccessDenied", 403))
    result = run_cli("archive", report_set, "s3://evidence/nightly", env=_env(moto))
    assert result.returncode == 2
    assert "write refused: AccessDenied" in result.stderr
    assert _keys(moto, "evidence") == []


def test_retain_needs_object_lock(moto: MotoServer, report_set: Path) -> None:
    _bucket(moto, "evidence", object_lock=False)
    result = run_cli(
        "archive", report_set, "s3://evidence/nightly", "--retain", "3y", env=_env(moto)
    )
    assert result.returncode == 2
    assert "the bucket has no Object Lock" in result.stderr
    assert _keys(moto, "evidence") == []


@pytest.mark.parametrize("change", ["edit", "extra"])
def test_a_set_that_is_not_its_sha256sums_is_not_archived(
    moto: MotoServer, report_set: Path, change: str
) -> None:
    _bucket(moto, "evidence", object_lock=False)
    if change == "edit":
        (report_set / "report.md").write_text("edited after the run\n")
    else:
        (report_set / "notes.txt").write_text("not part of the set\n")
    result = run_cli("archive", report_set, "s3://evidence/nightly", env=_env(moto))
    assert result.returncode == 2
    assert ("differs from SHA256SUMS" if change == "edit" else "not in SHA256SUMS") in (
        result.stderr
    )
    assert _keys(moto, "evidence") == []


def test_history_reads_the_archive(
    moto: MotoServer, workspace: Workspace, report_set: Path, tmp_path: Path
) -> None:
    _bucket(moto, "evidence", object_lock=True)
    for run_id in ("1", "2"):
        archived = run_cli(
            "archive", report_set, "s3://evidence/nightly", "--run-id", run_id, env=_env(moto)
        )
        assert archived.returncode == 0, archived.stderr
    result = run_cli(
        "history", "s3://evidence/nightly", "--output-dir", tmp_path / "history", env=_env(moto)
    )
    assert result.returncode == 0, result.stderr
    history = json.loads((tmp_path / "history" / "history.json").read_text())
    assert history["reports"] == 2
    assert all(used.startswith("s3://evidence/nightly/dev/") for used in history["used"])
    assert history["latest"].endswith("/2/report.json")


def test_history_keeps_the_read_time_checks(
    moto: MotoServer, report_set: Path, tmp_path: Path
) -> None:
    """A report edited in the archive (a bucket without Object Lock) is refused, named by
    its URI."""
    _bucket(moto, "evidence", object_lock=False)
    report = json.loads((report_set / "report.json").read_text())
    report["summary"]["status"] = "pass" if report["summary"]["status"] != "pass" else "fail"
    key = "nightly/dev/2026/12/07/1/report.json"
    _s3(moto).put_object(Bucket="evidence", Key=key, Body=json.dumps(report).encode())
    result = run_cli(
        "history", "s3://evidence/nightly", "--output-dir", tmp_path / "history", env=_env(moto)
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"policycheck: error: s3://evidence/{key}: ")


def test_archive_is_read_one_report_at_a_time(moto: MotoServer, report_set: Path) -> None:
    _bucket(moto, "evidence", object_lock=False)
    location = ArchiveLocation.parse("s3://evidence/nightly")
    for run_id in ("1", "2", "3"):
        archive(report_set, location, _s3(moto), run_id=run_id)
    scratch: set[Path] = set()
    for source in archived_sources(_s3(moto), location):
        assert list(source.path.parent.iterdir()) == [source.path]  # one file on disk
        scratch.add(source.path.parent)
    assert len(scratch) == 1 and not next(iter(scratch)).exists()  # removed after


def test_an_empty_archive_is_exit_2(moto: MotoServer, tmp_path: Path) -> None:
    _bucket(moto, "evidence", object_lock=False)
    result = run_cli("history", "s3://evidence/nightly", "-o", tmp_path / "h", env=_env(moto))
    assert result.returncode == 2
    assert "s3://evidence/nightly: no report.json under it" in result.stderr


def test_archive_role_policy() -> None:
    result = run_cli("iam-policy", "--archive", "s3://evidence/nightly")
    assert result.returncode == 0, result.stderr
    bucket, objects = json.loads(result.stdout)["Statement"]
    assert bucket["Resource"] == "arn:aws:s3:::evidence"
    assert objects["Resource"] == "arn:aws:s3:::evidence/nightly/*"
    actions = [*bucket["Action"], *objects["Action"]]
    assert "s3:PutObjectRetention" in actions and "s3:PutObject" in actions
    assert not [a for a in actions if "Delete" in a or "Bypass" in a]


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ("3y", datetime(2029, 12, 7, 23, 0, tzinfo=UTC)),
        ("400d", datetime(2028, 1, 11, 23, 0, tzinfo=UTC)),
    ],
)
def test_retention_periods(text: str, until: datetime) -> None:
    assert retain_until(text, NOW) == until


@pytest.mark.parametrize("text", ["3", "0y", "3m", "y", "-1d"])
def test_bad_retention_periods(text: str) -> None:
    with pytest.raises(InputError):
        retain_until(text, NOW)


def test_leap_day_retention() -> None:
    assert retain_until("1y", datetime(2028, 2, 29, tzinfo=UTC)) == datetime(
        2029, 2, 28, tzinfo=UTC
    )


def test_render_diff_and_merge_read_archived_reports(
    moto: MotoServer, report_set: Path, tmp_path: Path
) -> None:
    _bucket(moto, "evidence", object_lock=False)
    uris = []
    for run_id in ("1", "2"):
        archived = archive(
            report_set, ArchiveLocation.parse("s3://evidence/nightly"), _s3(moto), run_id=run_id
        )
        uris.append(f"{archived.uri}/report.json")
    env = _env(moto)
    render = run_cli("render", uris[0], "--format", "csv", "-o", tmp_path / "views", env=env)
    assert render.returncode == 0, render.stderr
    assert [p.name for p in (tmp_path / "views").iterdir()] == [
        *FORMATS["csv"].filenames,
        CHECKSUMS,
    ]
    diff = run_cli("diff", *uris, "--fail-on-new", env=env)
    assert diff.returncode == 0, diff.stderr
    merge = run_cli("merge", *uris, "-o", tmp_path / "merged", env=env)
    assert merge.returncode == 2  # both read, and refused as the same environment twice
    assert uris[0] in merge.stderr and uris[1] in merge.stderr, merge.stderr
    missing = run_cli("render", uris[0].replace("/1/", "/9/"), "-o", tmp_path / "x", env=env)
    assert missing.returncode == 2
    assert "nightly/dev/" in missing.stderr and "/9/report.json" in missing.stderr


TERRAFORM_MIRROR = Path("/opt/tf-plugins")


@pytest.mark.skipif(
    shutil.which("terraform") is None or not TERRAFORM_MIRROR.is_dir(),
    reason="terraform and the AWS provider mirror are not on this machine",
)
def test_archive_bucket_example_is_valid_terraform(tmp_path: Path) -> None:
    """examples/archive-bucket/ validates with the real terraform and AWS provider, and its
    role grants what `iam-policy --archive` prints, nothing more."""
    example = tmp_path / "archive-bucket"
    shutil.copytree(REPO / "examples" / "archive-bucket", example)
    config = tmp_path / "terraform.rc"
    aws = "registry.terraform.io/hashicorp/aws"
    config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{TERRAFORM_MIRROR}"\n'
        f'    include = ["{aws}"]\n  }}\n  direct {{ exclude = ["{aws}"] }}\n}}\n'
    )
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1"}
    for command in (["init", "-backend=false", "-input=false"], ["validate", "-no-color"]):
        done = subprocess.run(
            ["terraform", *command], cwd=example, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    text = (example / "main.tf").read_text()
    granted = set(re.findall(r'"(s3:[A-Za-z]+)"', text))
    assert granted == {*ARCHIVE_BUCKET_ACTIONS, *ARCHIVE_OBJECT_ACTIONS}
    assert 'mode  = "COMPLIANCE"' in text and "object_lock_enabled = true" in text
