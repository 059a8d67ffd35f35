""".ci/compare_report_sets.py: two report sets are the same when only what changes from
run to run differs (times, durations, version, moto's uuids, digests, commit ids), and
different when anything else does."""

import subprocess
import sys
from pathlib import Path

from support.harness import REPO

SCRIPT = REPO / ".ci" / "compare_report_sets.py"

REPORT = """{
  "tool_version": "%(version)s",
  "started_at": "%(time)s",
  "results": [
    {"check_id": "s3-versioning-enabled", "status": "%(status)s", "evidence": {"facts": [
      {"fetched_at": "%(time)s", "seconds": %(seconds)s, "value_sha256": "%(digest)s"}]}}
  ],
  "values": {
    "%(digest)s": {"KeyId": "arn:aws:kms:eu-central-1:123456789012:key/%(uuid)s"},
    "%(other)s": {"Status": "Enabled"}
  }
}
"""
MARKDOWN = "| dev | `s3-versioning-enabled` | %(status)s | `%(short)s` | commit %(commit)s |\n"


def _set(directory: Path, **changes: str) -> Path:
    values = {
        "version": "0.1.0",
        "time": "2026-12-08T01:14:26+00:00",
        "seconds": "0.216477",
        "status": "pass",
        "digest": "a" * 64,
        "other": "b" * 64,
        "uuid": "cf143b9f-261f-4423-a6d8-627dc7c6bec6",
        "short": "460b4ec9bf5a",
        "commit": "47ad1de837471f7fb0c6ca37da1d33baa29f2939",
        **changes,
    }
    directory.mkdir()
    (directory / "report.json").write_text(REPORT % values)
    (directory / "report.md").write_text(MARKDOWN % values)
    return directory


def _compare(before: Path, after: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(before), str(after)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_what_changes_from_run_to_run_is_ignored(tmp_path: Path) -> None:
    before = _set(tmp_path / "before")
    after = _set(
        tmp_path / "after",
        version="0.2.0",
        time="2026-12-09T03:00:01.123+00:00",
        seconds="1.5",
        digest="c" * 64,  # sorts after "b"*64 now: the table of values changes order
        uuid="0a1b2c3d-0000-4111-8222-333344445555",
        short="efc1492d940b",
        commit="ff28a7087ec3d3ab1cdb4aa311386bc297fd3d51",
    )
    completed = _compare(before, after)
    assert completed.returncode == 0, completed.stdout
    assert "identical: 2 files compared" in completed.stdout


def test_any_other_difference_is_shown(tmp_path: Path) -> None:
    completed = _compare(_set(tmp_path / "before"), _set(tmp_path / "after", status="fail"))
    assert completed.returncode == 1
    assert '-    {"check_id": "s3-versioning-enabled", "status": "pass"' in completed.stdout
    assert "+| dev | `s3-versioning-enabled` | fail |" in completed.stdout
    assert completed.stdout.rstrip().endswith("report.json, report.md)")


def test_a_file_only_one_set_has_is_a_difference(tmp_path: Path) -> None:
    before = _set(tmp_path / "before")
    after = _set(tmp_path / "after")
    (after / "report.sarif").write_text("{}")
    completed = _compare(before, after)
    assert completed.returncode == 1
    assert "report.sarif: only in AFTER" in completed.stdout
