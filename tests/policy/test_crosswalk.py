"""The framework crosswalk: the shipped mappings, their validation, and the listing."""

import re
import shutil
from pathlib import Path

import pytest

from policycheck.cli import main
from policycheck.policy.controls import Catalog
from policycheck.policy.crosswalk import FRAMEWORKS, evidence_for, requirement_order
from policycheck.report.model import ControlInEnvironment, assess_control
from support.checks import make_report, make_result
from support.harness import REPO, Workspace


def test_every_shipped_control_maps_with_reasons(catalog: Catalog) -> None:
    ids = {control.id for control in catalog.controls}
    for control in catalog.controls:
        assert {"NIST-800-53", "ISO-27001", "SOC2"} <= set(control.frameworks), control.id
        for framework_id, mapped in control.frameworks.items():
            pattern = FRAMEWORKS[framework_id].pattern
            for requirement, reason in mapped.items():
                assert re.fullmatch(pattern, requirement), (control.id, requirement)
                assert len(reason.split()) >= 8, (control.id, requirement)
    for framework_id in FRAMEWORKS:
        assert {e.control_id for e in evidence_for(framework_id, catalog.controls)} <= ids
    # CIS AWS Foundations only where a check matches a recommendation: Block Public Access.
    cis = evidence_for("CIS-AWS", catalog.controls)
    assert [(e.requirement, e.control_id) for e in cis] == [("2.1.4", "SC.10.02")]
    assert "s3-public-access-blocked" in catalog.get("SC.10.02").check_ids


def test_requirements_sort_as_people_number_them() -> None:
    ids = ["CP-10", "CP-9(1)", "A.8.13", "CP-9", "A.8.3", "AC-6"]
    assert sorted(ids, key=requirement_order) == [
        "A.8.3",
        "A.8.13",
        "AC-6",
        "CP-9",
        "CP-9(1)",
        "CP-10",
    ]


@pytest.fixture
def own_controls(workspace: Workspace) -> Path:
    """The workspace with a copy of the controls it can edit."""
    controls = workspace.directory / "controls"
    controls.unlink()
    shutil.copytree(REPO / "controls", controls)
    return controls / "SC.10.02.yaml"


def _mapped(requirement: str, why: str = "why", checks: str = "[s3-encryption-at-rest]") -> str:
    return f"  {requirement}:\n    checks: {checks}\n    why: {why}"


@pytest.mark.parametrize(
    ("frameworks", "said"),
    [
        (
            "NIST:\n" + _mapped("CP-9"),
            "frameworks.NIST: Value error, unknown framework; known: NIST-800-53, ISO-27001, "
            "SOC2, CIS-AWS (got 'NIST')",
        ),
        (
            "NIST-800-53:\n" + _mapped("CP9"),
            "frameworks.NIST-800-53.CP9: Value error, not a requirement id of NIST SP 800-53 "
            "Rev. 5 (like CP-9, SC-28(1)) (got 'CP9')",
        ),
        ("ISO-27001:\n" + _mapped("A.8.35"), "frameworks.ISO-27001.A.8.35: Value error, not a"),
        ("SOC2:\n" + _mapped("A1.4"), "frameworks.SOC2.A1.4: Value error, not a requirement id"),
        # YAML reads an unquoted 2.1 as a number: CIS ids of two parts need quotes
        ("CIS-AWS:\n" + _mapped("2.1"), "frameworks.CIS-AWS.2.1: Input should be a valid string"),
        ("SOC2:\n" + _mapped("A1.2", "''"), "frameworks.SOC2.A1.2.why: String should have at"),
        # Each mapping names the checks that evidence it: known, and the control's own.
        ("SOC2:\n  A1.2: backups", "frameworks.SOC2.A1.2: Input should be a valid dictionary"),
        ("SOC2:\n" + _mapped("A1.2", checks="[]"), "frameworks.SOC2.A1.2.checks: List should"),
        (
            "SOC2:\n" + _mapped("A1.2", checks="[s3-encryption-at-rest, no-such-check]"),
            "frameworks.SOC2.A1.2.checks[1]: 'no-such-check' is not one of this control's "
            "checks (s3-encryption-at-rest, s3-public-access-blocked",
        ),
        (
            "NIST-800-53:\n" + _mapped("AC-6", checks="[dynamodb-pitr-enabled]"),
            "frameworks.NIST-800-53.AC-6.checks[0]: 'dynamodb-pitr-enabled' is not one of this "
            "control's checks",
        ),
    ],
)
def test_validate_rejects_unknown_frameworks_and_malformed_ids(
    workspace: Workspace,
    own_controls: Path,
    capsys: pytest.CaptureFixture[str],
    frameworks: str,
    said: str,
) -> None:
    text = own_controls.read_text()
    mapped = "\n".join(f"  {line}" for line in frameworks.splitlines())
    own_controls.write_text(text[: text.index("\nframeworks:")] + f"\nframeworks:\n{mapped}\n")
    assert main(["validate", "--policy", str(workspace.policy_path)]) == 2
    stderr = capsys.readouterr().err
    assert f"{own_controls}: {said}" in stderr, stderr
    assert "Traceback" not in stderr


def _listing(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["controls", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_listing_of_a_framework_from_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _listing(
        capsys, "--policy", str(REPO / "policy.yaml"), "--framework", "NIST-800-53"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "NIST SP 800-53 Rev. 5 (NIST-800-53): 12 requirements mapped"
    rows = [line.split()[:2] for line in lines[4:] if line and not line.startswith(" ")]
    assert rows[:3] == [["AC-3", "SC.10.02"], ["AC-6", "SC.10.02"], ["AU-9", "SC.10.02"]]
    assert ["CP-9", "SC.10.01.01"] in rows and ["CP-10", "SC.10.03.01"] in rows
    code, out, _ = _listing(capsys, "--policy", str(REPO / "policy.yaml"))
    assert "NIST-800-53 CP-9" in out  # the catalog lists each control's mappings


def test_listing_with_a_report_gives_the_run_statuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = [make_result("a", "fail", environment="prod"), make_result("a", "pass")]
    evidenced = assess_control(
        "C.1",
        "t",
        ["a"],
        results,
        environments={
            "dev": ControlInEnvironment(status="pass"),
            "prod": ControlInEnvironment(status="fail"),
        },
        frameworks={"SOC2": {"A1.2": "backups", "A1.3": "tested"}},
    )
    idle = assess_control(
        "C.2",
        "u",
        ["b"],
        results,
        environments={"dev": ControlInEnvironment(status="not_selected", reason="--checks")},
        frameworks={"SOC2": {"A1.3": "tested too"}},
    )
    path = tmp_path / "report.json"
    path.write_text(
        make_report(*results, controls=(evidenced, idle)).model_dump_json(by_alias=True)
    )
    code, out, _ = _listing(capsys, "--framework", "SOC2", "--report", str(path))
    assert code == 0
    assert out.splitlines()[0] == (
        "SOC 2 Trust Services Criteria (AICPA, 2017) (SOC2): 2 requirements mapped; the run "
        "of s evidenced 2 of them (the checks mapped to each judged: pass, fail, error or waived)"
    )
    assert re.search(r"A1\.2 +C\.1 +FAIL +dev PASS, prod FAIL +backups", out)
    assert re.search(r"A1\.3 +C\.2 +NOT SELECTED +dev NOT SELECTED +tested too", out)
    code, out, _ = _listing(capsys, "--framework", "CIS-AWS", "--report", str(path))
    assert "0 requirements mapped (no control maps to this framework)" in out


def test_a_requirement_whose_controls_were_not_judged_is_not_evidenced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan's results that judge nothing (not_assessed, not_in_plan) evidence nothing."""
    results = [
        make_result("a", "not_assessed"),
        make_result("b", "not_in_plan").model_copy(update={"control_ids": ["C.2"]}),
        make_result("c", "pass").model_copy(update={"control_ids": ["C.3"]}),
    ]
    dev = {"dev": ControlInEnvironment(status="not_assessed")}
    controls = (
        assess_control(
            "C.1", "t", ["a"], results, environments=dev, frameworks={"SOC2": {"A1.2": "x"}}
        ),
        assess_control(
            "C.2", "u", ["b"], results, environments=dev, frameworks={"SOC2": {"A1.3": "y"}}
        ),
        assess_control(
            "C.3", "v", ["c"], results, environments=dev, frameworks={"SOC2": {"CC6.1": "z"}}
        ),
    )
    assert [c.status for c in controls] == ["not_assessed", "not_in_plan", "pass"]
    path = tmp_path / "report.json"
    path.write_text(make_report(*results, controls=controls).model_dump_json(by_alias=True))
    code, out, _ = _listing(capsys, "--framework", "SOC2", "--report", str(path))
    assert code == 0
    first, second = out.splitlines()[:2]
    assert "the run of s evidenced 1 of them" in first
    assert second == "not evidenced by this report (none of its checks judged): A1.2, A1.3"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--framework", "PCI"], "--framework: unknown framework 'PCI'; choose from NIST-800-53"),
        (["--framework", ""], "--framework: unknown framework ''; choose from NIST-800-53"),
        (["--report", "r.json"], "--report: only with --framework"),
        (["--framework", "SOC2", "--report", "missing.json"], "missing.json: cannot read"),
    ],
)
def test_listing_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, _, err = _listing(capsys, *args)
    assert code == 2 and said in err
