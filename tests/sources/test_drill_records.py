"""dr-drill-evidence-fresh, the evidence store (on a temporary git repository) and the
drills table."""

import subprocess
from pathlib import Path

import pytest

from policycheck.checks.drills import deleted_too_early
from policycheck.demo.seeding import GIT_IDENTITY, commit_record
from policycheck.git import GitError
from policycheck.policy.schedule import add_months, next_due
from policycheck.sources.repository.records import RecordError, RecordStore
from support.checks import judge


def _run(date: str, outcome: str = "pass", minutes: float = 10, environment: str = "dev") -> dict:
    return {
        "drill": "ecs-redeploy",
        "date": date,
        "environment": environment,
        "outcome": outcome,
        "time_to_recovery_minutes": minutes,
        "evidence": ["https://example.invalid/runs/1"],
        "path": f"ecs-redeploy/{date}.yaml",
    }


def _drill(*runs: dict, deleted: list | None = None, **params: object):
    facts = {"dr_drill.records": list(runs), "dr_drill.deleted_records": deleted or []}
    return judge(
        "dr-drill-evidence-fresh",
        facts,
        resource="ecs-redeploy",
        **{"frequency": "quarterly", "rto_minutes": 15, **params},
    )


def test_fresh_passing_drill() -> None:
    verdict = _drill(_run("2026-10-01", minutes=9))
    assert verdict.passed
    assert verdict.message == "last passed on 2026-10-01 in 9 min; next due 2027-01-01"


@pytest.mark.parametrize(("last", "passed"), [("2026-08-24", True), ("2026-08-23", False)])
def test_frequency_boundary(last: str, passed: bool) -> None:
    """Quarterly: passed on 24 August, due again by 24 November (today)."""
    verdict = _drill(_run(last))
    assert verdict.passed is passed
    if not passed:
        assert "last passed on 2026-08-23, due again by 2026-11-23" in verdict.message


def test_latest_run_failed() -> None:
    verdict = _drill(_run("2026-10-01"), _run("2026-11-01", outcome="fail", minutes=12))
    assert not verdict.passed
    assert verdict.message.startswith("latest run on 2026-11-01 failed")


@pytest.mark.parametrize(("minutes", "passed"), [(15, True), (15.5, False)])
def test_rto_boundary(minutes: float, passed: bool) -> None:
    verdict = _drill(_run("2026-10-01", minutes=minutes))
    assert verdict.passed is passed
    if not passed:
        assert "latest run took 15.5 min, over the 15-min RTO" in verdict.message


def test_no_rto_means_not_timed() -> None:
    assert _drill(_run("2026-10-01", minutes=600), rto_minutes=None, frequency="annually").passed


def test_no_evidence_and_other_environment() -> None:
    verdict = _drill()
    assert not verdict.passed and verdict.message.startswith("no recorded run in dev")
    assert not _drill(_run("2026-10-01", environment="prod")).passed


def test_future_records_do_not_count() -> None:
    assert not _drill(_run("2027-01-01")).passed


def test_deleted_record_within_retention_fails() -> None:
    deletion = {
        "path": "docs/e/ecs-redeploy/2025-01-01.yaml",
        "deleted_at": "2026-11-01T10:00:00+00:00",
        "record_date": "2025-01-01",
        "drill": "ecs-redeploy",
        "commit": "abc",
    }
    verdict = _drill(_run("2026-10-01"), deleted=[deletion])
    assert not verdict.passed
    assert (
        "docs/e/ecs-redeploy/2025-01-01.yaml was deleted on 2026-11-01 within the 3-year "
        "retention" in verdict.message
    )


def test_retention_boundary() -> None:
    base = {"path": "p", "record_date": "2023-11-24", "drill": "d", "commit": "c"}
    assert not deleted_too_early({**base, "deleted_at": "2026-11-24T00:00:00+00:00"}, 3)
    assert deleted_too_early({**base, "deleted_at": "2026-11-23T23:59:59+00:00"}, 3)
    assert deleted_too_early({**base, "record_date": None, "deleted_at": "2030-01-01T00:00:00"}, 3)


def test_month_arithmetic() -> None:
    from datetime import date

    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert next_due(date(2024, 2, 29), "annually") == date(2025, 2, 28)


# --- the evidence store on a real (temporary) git repository ------------------------------


def _record(date: str, outcome: str = "pass", drill: str = "ecs-redeploy") -> dict:
    return {
        "drill": drill,
        "date": date,
        "environment": "dev",
        "outcome": outcome,
        "time_to_recovery_minutes": 8,
        "evidence": ["https://example.invalid/runs/7"],
    }


def _git(directory: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_IDENTITY, *args], cwd=directory, check=True, capture_output=True)


def test_store_reads_records_and_deletions(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    evidence = repo / "docs" / "compliance" / "dr-test-evidence"
    repo.mkdir()
    _git(repo, "init", "-q")
    kept = commit_record(evidence, _record("2026-09-01"), "drill")
    gone = commit_record(evidence, _record("2026-06-01"), "drill")
    commit_record(evidence, _record("2026-06-02", drill="secret-rotation"), "other drill")
    _git(repo, "rm", "-q", str(gone))
    _git(repo, "commit", "-qm", "remove old evidence")

    store = RecordStore(evidence, repo)
    [record] = store.records_for("ecs-redeploy")
    assert record["date"] == "2026-09-01"
    assert record["path"] == str(kept.relative_to(repo))
    [deletion] = store.deletions_for("ecs-redeploy")
    assert deletion["path"] == "docs/compliance/dr-test-evidence/ecs-redeploy/2026-06-01-dev.yaml"
    assert deletion["record_date"] == "2026-06-01"
    assert store.deletions_for("secret-rotation") == []


def test_invalid_record_is_an_error_for_its_drill_only(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    commit_record(evidence, _record("2026-09-01"), "drill")
    broken = evidence / "secret-rotation" / "2026-01-01-dev.yaml"
    broken.parent.mkdir()
    broken.write_text("drill: secret-rotation\noutcome: maybe\n")
    store = RecordStore(evidence, tmp_path)
    assert len(store.records_for("ecs-redeploy")) == 1
    with pytest.raises(RecordError, match=r"outcome: Input should be 'pass' or 'fail'"):
        store.records_for("secret-rotation")


def test_no_git_history_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    with pytest.raises(GitError):
        RecordStore(tmp_path / "evidence", tmp_path).deletions_for("ecs-redeploy")
