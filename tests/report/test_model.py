import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import POLICY_PATH, REPO
from policycheck.generate.schemas import build_schema, schema_path
from policycheck.render import render_json
from policycheck.render.reportmd import render_markdown
from policycheck.report.model import Report, assess_control, summarize
from support.checks import make_report, make_result


@pytest.mark.parametrize("kind", ["report", "policy", "control"])
def test_committed_schema_is_current(kind: str) -> None:
    """`make schemas` regenerates these; a model change without it fails here."""
    assert json.loads(schema_path(kind).read_text()) == build_schema(kind)


def test_shipped_policy_and_controls_validate_against_schemas() -> None:
    jsonschema.validate(yaml.safe_load(POLICY_PATH.read_text()), build_schema("policy"))
    for path in (REPO / "controls").glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text()), build_schema("control"))


def test_policy_schema_checks_parameters_per_check() -> None:
    document = yaml.safe_load(POLICY_PATH.read_text())
    document["checks"][2]["params"] = {"min_recovery_days": 99}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, build_schema("policy"))


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pass", "pass"], "pass"),
        (["pass", "error"], "error"),
        (["error", "fail", "pass"], "fail"),
        ([], "not_assessed"),
    ],
)
def test_control_status(statuses: list[str], expected: str) -> None:
    results = [make_result("a", status, name=f"r{i}") for i, status in enumerate(statuses)]
    control = assess_control("C.1", "t", ["a", "b"], results)
    assert control.status == expected
    assert control.counts.total == len(statuses)
    assert control.checks_not_run == (["a", "b"] if not statuses else ["b"])


def test_results_of_other_checks_do_not_count() -> None:
    control = assess_control("C.1", "t", ["a"], [make_result("z", "fail")])
    assert control.status == "not_assessed"


def test_summary_and_rendering_validate() -> None:
    results = [
        make_result("a", "pass"),
        make_result("a", "fail", name="x"),
        make_result("b", "error", name="r"),
    ]
    controls = [
        assess_control("C.1", "t", ["a", "b"], results),
        assess_control("C.2", "u", [], results),
    ]
    summary = summarize(controls, results)
    assert summary.status == "fail"
    assert dict(summary.controls) == {
        "pass": 0,
        "fail": 1,
        "error": 0,
        "waived": 0,
        "manual": 0,
        "not_assessed": 1,
        "not_applicable": 0,
        "not_selected": 0,
        "not_in_plan": 0,
    }
    report = make_report(*results, controls=tuple(controls))
    assert report.summary == summary
    data = json.loads(render_json(report))
    jsonschema.validate(data, json.loads(schema_path("report").read_text()))
    assert data["summary"]["results"] == {
        "pass": 1,
        "fail": 1,
        "error": 1,
        "waived": 0,
        "not_assessed": 0,
        "not_in_plan": 0,
        "total": 3,
    }
    assert Report.model_validate(data) == report  # the JSON round-trips

    markdown = render_markdown(report)
    assert markdown.index("### FAIL: `a` on `x`") < markdown.index("### ERROR: `b` on `r`")
    assert "**AWS error:** `AccessDenied`: no" in markdown
    assert "| C.2       | u       | NOT ASSESSED |" in markdown
    assert "## Manual statements" not in markdown


def test_manual_statements_are_never_a_pass() -> None:
    only_manual = assess_control("C.3", "t", [], [], ["A human verifies this."])
    assert only_manual.status == "manual"
    with_checks = assess_control("C.3", "t", ["a"], [make_result("a", "fail")], ["Verify by hand."])
    assert with_checks.status == "fail"
    assert with_checks.manual == ["Verify by hand."]
    passing = assess_control("C.3", "t", ["a"], [make_result("a", "pass")], ["Verify by hand."])
    assert passing.status == "pass" and passing.manual == ["Verify by hand."]


@pytest.mark.parametrize(
    "command",
    [
        ["render", "{bad}", "-o", "{out}"],
        ["diff", "{bad}", "{good}"],
        ["diff", "{good}", "{bad}", "--fail-on-new"],
        ["merge", "{good}", "{bad}", "-o", "{out}"],
        ["controls", "--framework", "NIST-800-53", "--report", "{bad}"],
    ],
)
def test_a_file_that_is_not_a_report_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Every command reading a report says so in one line naming the file and the first
    problem, not a line per pydantic error."""
    from policycheck.cli import main

    bad, good = tmp_path / "base.json", tmp_path / "good.json"
    bad.write_text('{"schema_version": "1.1", "run": {}, "a": 1}')
    good.write_text(render_json(make_report(make_result("a", "pass"))))
    paths = {"bad": str(bad), "good": str(good), "out": str(tmp_path / "out")}
    code = main([part.format(**paths) for part in command])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"policycheck: error: {bad}: not a policycheck report ("), err
    assert "more)" in err and len(err.strip().splitlines()) == 1, err
