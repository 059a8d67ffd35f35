import dataclasses
import json
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from policycheck.engine.assembly import Audited, assemble
from policycheck.engine.planning import Scope, select, why_no_results
from policycheck.generate.schemas import build_schema, schema_path
from policycheck.git import Checkout
from policycheck.policy import controls
from policycheck.policy.controls import Catalog
from policycheck.policy.load import Policy
from policycheck.render import render_json
from policycheck.render.reportmd import render_markdown
from policycheck.report.model import (
    ControlInEnvironment,
    EnvironmentInfo,
    Report,
    Result,
    assess_control,
    summarize,
)
from support.checks import make_report, make_result
from support.harness import POLICY_PATH, REPO


@pytest.mark.parametrize("kind", ["report", "policy", "control", "evidence"])
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


# --- assembly: the report built once, from what the caller hands in ---------------------


class _Unread(Sequence[Result]):
    """Results on disk that must not be read back (a large run's ResultLog)."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: Any) -> Any:
        raise AssertionError("assembly read the results back")


def _audited(policy: Policy, catalog: Catalog, **fields: Any) -> Audited:
    """What a run of dev did, as runner and plan hand it to assembly."""
    scope = Scope.as_written(policy, catalog, select(policy, catalog, environments=["dev"]))
    where = EnvironmentInfo(
        name="dev", account_id="123456789012", caller_arn="", region="eu-central-1"
    )
    given: dict[str, Any] = {
        "scope": scope,
        "checkout": Checkout(commit="c0ffee", directory="compliance"),
        "input_sha256": {"policy.yaml": "ab" * 32},
        "environments": [where],
        "gaps": [],
        "no_results": why_no_results(scope, {"dev"}),
        "started": datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        "finished": datetime(2026, 11, 24, 9, 5, tzinfo=UTC),
        "results": [],
        "waivers": [],
    }
    return Audited(**{**given, **fields})


def test_assembly_is_pure_it_runs_no_process_and_reads_no_clock_or_file(
    policy: Policy, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"assembly ran a process or read a file: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(controls, "sha256_file", refuse)  # the control files' hashes
    run = assemble(_audited(policy, catalog)).run
    assert (run.git_commit, run.policy_dir_in_repository) == ("c0ffee", "compliance")
    assert run.input_sha256 == {"policy.yaml": "ab" * 32}
    assert (run.started_at, run.finished_at) == (
        "2026-11-24T09:00:00+00:00",
        "2026-11-24T09:05:00+00:00",
    )


def test_a_control_without_results_is_what_the_caller_says(
    policy: Policy, catalog: Catalog
) -> None:
    audited = _audited(policy, catalog)
    control = catalog.controls[0]
    said = ControlInEnvironment(status="not_applicable", reason="as the plan says")
    told = {**audited.no_results, control.id: {"dev": said}}
    report = assemble(dataclasses.replace(audited, no_results=told))
    [assembled] = [c for c in report.controls if c.id == control.id]
    assert assembled.environments == {"dev": said}


def test_the_report_is_built_once_with_its_results_and_values(
    policy: Policy, catalog: Catalog
) -> None:
    """A large run's results stay on disk: assembly assesses the controls and the summary
    on what they amount to (``counted``) and puts the results themselves in the report."""
    check_id = catalog.controls[0].check_ids[0]
    stored, values = _Unread(), {"ab" * 32: {"Status": "Enabled"}}
    counted = [make_result(check_id, "fail", name=f"r{i}") for i in range(3)]
    report = assemble(_audited(policy, catalog, results=stored, counted=counted, values=values))
    assert report.results is stored
    assert report.evidence_values is values
    assert (report.summary.results.fail, report.summary.results.total) == (3, 3)
    [control] = [c for c in report.controls if c.id == catalog.controls[0].id]
    assert control.environments["dev"].status == "fail"
