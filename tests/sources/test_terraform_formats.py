"""Plans of every format Terraform writes (0.1, 0.2, 1.x) are read; others are refused
naming the versions read. The 0.x plans are real ones from a public project's test
fixtures (tests/fixtures/terraform/real/README.md), judged with a policy naming their
buckets."""

import json
import shutil
from pathlib import Path

import pytest

from policycheck.cli import main
from support.harness import REPO

REAL = REPO / "tests" / "fixtures" / "terraform" / "real"
OLD_FORMATS = sorted(REAL.glob("*.json"))


@pytest.fixture
def real_policy(tmp_path: Path) -> Path:
    """The policy naming the real plans' buckets, with the controls beside it."""
    directory = tmp_path / "policy"
    directory.mkdir()
    (directory / "controls").symlink_to(REPO / "controls")
    shutil.copy(REAL / "policy.yaml", directory / "policy.yaml")
    return directory / "policy.yaml"


def judged(plans: list[Path], policy: Path, out: Path) -> dict[tuple[str, str], str]:
    """(check, bucket) -> status of `policycheck plan` on the plans; asserts exit 1."""
    assert main(["plan", *map(str, plans), "--policy", str(policy), "-o", str(out)]) == 1
    report = json.loads((out / "report.json").read_text())
    return {(r["check_id"], r["resource"]["name"]): r["status"] for r in report["results"]}


@pytest.mark.parametrize("plan", OLD_FORMATS, ids=lambda p: p.name)
def test_real_old_format_plans_are_judged(plan: Path, real_policy: Path, tmp_path: Path) -> None:
    """Provider 3.x buckets with versioning off and an explicit empty encryption block:
    versioning fails, encryption is the SSE-S3 S3 applies (the live verdict after the
    apply), no public access block fails; no result is an error."""
    prefixed = json.loads(plan.read_text())["planned_values"]["root_module"]["resources"][1]
    statuses = judged([plan], real_policy, tmp_path / "out")
    for bucket in ("demoexample-1", prefixed["values"]["bucket"]):
        assert statuses[("s3-versioning-enabled", bucket)] == "fail"
        assert statuses[("s3-encryption-at-rest", bucket)] == "pass"
        assert statuses[("s3-public-access-blocked", bucket)] == "fail"
    assert len(statuses) == 6


def test_a_directory_of_plans_of_several_formats(real_policy: Path, tmp_path: Path) -> None:
    """A directory holding 0.1 and 0.2 plans reads them all (was: one 0.x plan refused the
    whole set); the report records each plan's format."""
    plans = tmp_path / "plans"
    plans.mkdir()
    for plan in OLD_FORMATS:
        shutil.copy(plan, plans / plan.name)
    document = json.loads(OLD_FORMATS[0].read_text())
    (plans / "other.json").write_text(json.dumps({**document, "format_version": "1.2"}))
    judged([plans], real_policy, tmp_path / "out")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert sorted(s["format_version"] for s in report["run"]["sources"]) == ["0.1", "0.2", "1.2"]


@pytest.mark.parametrize("version", ["0.0", "2.0", "1", "one", "0.1.x"])
def test_a_format_outside_0_1_to_1_x_is_refused(
    version: str, real_policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    document = json.loads(OLD_FORMATS[0].read_text())
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({**document, "format_version": version}))
    assert main(["plan", str(plan), "--policy", str(real_policy), "-o", str(tmp_path)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert f"format_version {version!r} is not supported" in line
    assert "reads 0.1, 0.2 and 1.x (Terraform 0.12 and later)" in line
