"""policycheck history: a month of generated nightly reports gives the exact timeline,
failure periods, days out of compliance and policy changes."""

import io
import json
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

import pytest

from policycheck.cli import main
from policycheck.errors import InputError
from policycheck.publish import write_reports
from policycheck.render import render_history
from policycheck.render.document import in_memory
from policycheck.render.history import render_history_json, render_history_markdown
from policycheck.render.html import render_html
from policycheck.report.history import Period, build_history, failure_periods, report_files
from policycheck.report.model import (
    ControlInEnvironment,
    ControlResult,
    Counts,
    Evidence,
    FactEvidence,
    Report,
    RunInfo,
    SourceInfo,
    evidence_sha256,
    summarize,
)
from policycheck.report.reader import read_report
from support.checks import make_report, make_result

START = date(2026, 1, 1)
POLICY_A, POLICY_B = "a" * 64, "b" * 64


def _control(control_id: str, statuses: dict[str, str]) -> ControlResult:
    environments = {env: ControlInEnvironment(status=status) for env, status in statuses.items()}
    return ControlResult(
        id=control_id,
        title=f"title of {control_id}",
        status="pass",
        environments=environments,
        counts=Counts(),
        checks=[],
        checks_not_run=[],
    )


def nightly(
    day: int,
    statuses: dict[str, dict[str, str]],
    *,
    at: str = "03:17",
    policy: str = POLICY_A,
    control_file: str = "c" * 64,
) -> Report:
    """The report of night ``day`` (1 = START): per control, the status per environment."""
    controls = [_control(control_id, by_env) for control_id, by_env in statuses.items()]
    environments = list(dict.fromkeys(env for by_env in statuses.values() for env in by_env))
    when = f"{START + timedelta(days=day - 1)}T{at}:00+00:00"
    run = RunInfo(
        tool_version="0",
        started_at=when,
        finished_at=when,
        policy_file="policy.yaml",
        policy_sha256=policy,
        input_sha256={"policy.yaml": policy, "controls/C.1.yaml": control_file},
        environments=[],
        selected_environments=environments,
    )
    return Report(run=run, summary=summarize(controls, []), controls=controls, results=[])


def _c1_dev(day: int) -> str:
    """C.1 in dev: fails on days 5-9, 20-22, 24; errors on day 25; passes otherwise (and
    no report at all on day 23)."""
    if 5 <= day <= 9 or 20 <= day <= 24:
        return "fail"
    return "error" if day == 25 else "pass"


def _c1_prod(day: int) -> str:
    """C.1 in prod: fails on day 11, waived on days 12-14."""
    return "fail" if day == 11 else "waived" if 12 <= day <= 14 else "pass"


def _month(directory: Path) -> list[Path]:
    """30 nights of reports, one directory per night (as downloaded artifacts)."""
    written = []

    def write(name: str, report: Report) -> None:
        path = directory / name / "report.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.model_dump_json(by_alias=True))
        written.append(path)

    for day in range(1, 31):
        if day == 23:
            continue  # the nightly did not run
        statuses = {
            "C.1": {"dev": _c1_dev(day), "prod": _c1_prod(day)},
            "C.2": {"dev": "fail" if day >= 28 else "pass", "prod": "not_applicable"},
        }
        policy = POLICY_A if day < 18 else POLICY_B
        control_file = "c" * 64 if day < 27 else "d" * 64
        if day == 7:  # one report per environment that night
            for env in ("dev", "prod"):
                only = {cid: {env: by_env[env]} for cid, by_env in statuses.items()}
                write(f"night-07-{env}", nightly(day, only, policy=policy))
            continue
        if day == 15:  # a morning run that failed, then the evening run: the last one counts
            morning = {**statuses, "C.1": {"dev": "fail", "prod": "fail"}}
            write("night-15-morning", nightly(day, morning, at="03:17", policy=policy))
            write("night-15-evening", nightly(day, statuses, at="21:00", policy=policy))
            continue
        write(f"night-{day:02}", nightly(day, statuses, policy=policy, control_file=control_file))
    return written


@pytest.fixture
def month(tmp_path: Path) -> Path:
    _month(tmp_path / "nightly")
    return tmp_path / "nightly"


def _timeline(history, control_id: str, env: str):  # type: ignore[no-untyped-def]
    return next(t for t in history.timelines if (t.control_id, t.environment) == (control_id, env))


def test_thirty_nights_give_the_exact_timeline(month: Path) -> None:
    history = build_history(report_files([month, month / "night-01" / "report.json"]))
    assert (history.start, history.end, history.reports) == ("2026-01-01", "2026-01-30", 31)
    assert len(history.days) == 30
    c1_dev = _timeline(history, "C.1", "dev")
    expected = [_c1_dev(day) if day != 23 else "no_report" for day in range(1, 31)]
    assert c1_dev.statuses == expected
    assert [f.model_dump() for f in c1_dev.failures] == [
        {"started": "2026-01-05", "ended": "2026-01-10", "ended_as": "pass", "days": 5},
        # the night without a report (23) and the error (25) do not end it: nothing showed
        # the failure fixed before day 26
        {"started": "2026-01-20", "ended": "2026-01-26", "ended_as": "pass", "days": 6},
    ]
    assert c1_dev.days_out_of_compliance == 11
    assert c1_dev.days_by_status == {"pass": 19, "fail": 9, "no_report": 1, "error": 1}


def test_the_latest_report_is_read_only_for_the_page_and_once(month: Path) -> None:
    """The history's views get the read history: the latest report (downloaded, for an
    archive) is read by the caller's reader when history.html is written, not for
    history.json or history.md, and once."""
    read: list[str] = []

    def reader(name: str) -> Report:
        read.append(name)
        return read_report(Path(name))

    period = Period(build_history(report_files([month])), read=reader)
    for writing in render_history(period, ["json", "markdown"]).values():
        writing(io.StringIO(), in_memory)
    assert read == []
    pages = [io.StringIO(), io.StringIO()]
    for page in pages:
        render_history(period, ["html"])["history.html"](page, in_memory)
    assert read == [period.history.latest]
    assert pages[0].getvalue() == pages[1].getvalue()
    assert pages[0].getvalue().count('class="strip"') == 4


def test_waiver_ends_a_failure_and_the_last_report_of_a_day_counts(month: Path) -> None:
    history = build_history(report_files([month]))
    c1_prod = _timeline(history, "C.1", "prod")
    assert [f.model_dump() for f in c1_prod.failures] == [
        {"started": "2026-01-11", "ended": "2026-01-12", "ended_as": "waived", "days": 1}
    ]
    assert c1_prod.days_by_status["waived"] == 3
    # night 15: the morning run failed, the evening run passed
    assert c1_prod.statuses[14] == "pass"
    assert _timeline(history, "C.1", "dev").statuses[14] == "pass"
    # night 7 came as one report per environment: both count
    assert _timeline(history, "C.1", "dev").statuses[6] == "fail"
    assert c1_prod.statuses[6] == "pass"


def test_failure_open_at_the_end_and_not_applicable(month: Path) -> None:
    history = build_history(report_files([month]))
    c2_dev = _timeline(history, "C.2", "dev")
    assert [f.model_dump() for f in c2_dev.failures] == [
        {"started": "2026-01-28", "ended": None, "ended_as": None, "days": 3}
    ]
    assert c2_dev.days_out_of_compliance == 3
    c2_prod = _timeline(history, "C.2", "prod")
    assert c2_prod.failures == [] and c2_prod.days_out_of_compliance == 0
    assert c2_prod.days_by_status == {"not_applicable": 29, "no_report": 1}


def test_policy_and_control_file_changes_are_marked(month: Path) -> None:
    history = build_history(report_files([month]))
    assert [(c.date, c.changed) for c in history.policy_changes] == [
        ("2026-01-18", ["policy.yaml"]),
        ("2026-01-27", ["controls/C.1.yaml"]),
    ]
    first = history.policy_changes[0]
    assert (first.policy_sha256_before, first.policy_sha256_after) == (POLICY_A, POLICY_B)
    assert first.report.endswith("night-18/report.json")


def test_period_limits(month: Path) -> None:
    history = build_history(report_files([month]), since=date(2026, 1, 8), until=date(2026, 1, 12))
    assert (history.start, history.end, history.reports) == ("2026-01-08", "2026-01-12", 5)
    assert [f.model_dump() for f in _timeline(history, "C.1", "dev").failures] == [
        {"started": "2026-01-08", "ended": "2026-01-10", "ended_as": "pass", "days": 2}
    ]
    with pytest.raises(InputError, match="no report within the period"):
        build_history(report_files([month]), since=date(2027, 1, 1))


@pytest.mark.parametrize(
    ("statuses", "periods"),
    [
        ([], []),
        (["pass", "pass"], []),
        (["fail"], [("2026-01-01", None, 1)]),
        (["fail", "not_assessed", "not_applicable"], [("2026-01-01", "2026-01-03", 2)]),
        (
            ["error", "fail", "no_report", "fail", "pass", "fail"],
            [("2026-01-02", "2026-01-05", 3), ("2026-01-06", None, 1)],
        ),
        (["fail", "not_selected", "manual", "pass"], [("2026-01-01", "2026-01-04", 3)]),
    ],
)
def test_failure_periods(statuses: list[str], periods: list[tuple]) -> None:
    found = failure_periods(statuses, START)
    assert [(f.started, f.ended, f.days) for f in found] == periods


def test_legacy_report_statuses_come_from_its_results(tmp_path: Path) -> None:
    """A report of schema 1.0 records no status per environment: as render and merge do,
    its controls are re-derived from its results."""
    legacy = json.loads(
        make_report(make_result("a", "fail", environment="dev")).model_dump_json(by_alias=True)
    )
    legacy["schema_version"] = "1.0"
    legacy["run"]["started_at"] = "2026-01-01T03:17:00+00:00"
    legacy["run"]["environments"] = [
        {"name": "dev", "account_id": "1", "caller_arn": "a", "region": "eu-central-1"}
    ]
    legacy["controls"] = [
        {
            "id": "C.1",
            "title": "t",
            "status": "fail",
            "counts": {},
            "checks": ["a"],
            "checks_not_run": [],
        }
    ]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(legacy))
    history = build_history([path])
    assert _timeline(history, "C.1", "dev").statuses == ["fail"]


def _cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["history", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_markdown_json_and_html(
    month: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "history"
    code, stdout, _ = _cli(capsys, month, "-o", out)
    assert code == 0, stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "SHA256SUMS",
        "history.html",
        "history.json",
        "history.md",
    ]
    data = json.loads((out / "history.json").read_text())
    assert data["start"] == "2026-01-01" and len(data["timelines"]) == 4
    markdown = (out / "history.md").read_text()
    assert "| C.1       | dev           |                       11 |" in markdown
    assert (
        "| C.1       | dev           | 2026-01-20    | 2026-01-26      | PASS       |      6 |"
        in markdown
    )
    strip = next(line for line in markdown.splitlines() if line.startswith("C.1 dev "))
    assert strip.endswith("++++XXXXX++++++++++XXX.XE+++++")
    marks = next(line for line in markdown.splitlines() if line.startswith("policy changed"))
    assert marks.index("^") == strip.index("+") + 17  # day 18
    html = (out / "history.html").read_text()
    assert html.count('class="strip"') == 4
    assert 'title="2026-01-23: NO REPORT"' in html
    assert 'title="2026-01-18: PASS (policy changed)"' in html


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{not json", "not a policycheck report (not valid JSON: Expecting"),
        ("[1, 2]", "not a policycheck report ((top level): not a JSON object)"),
        ('{"assessment-results": {}}', "not a policycheck report ("),
        ('{"schema_version": "1.1", "run": {}}', "not a policycheck report (run."),
    ],
)
def test_cli_bad_input_exits_2_in_one_line_naming_the_file(
    month: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, said: str
) -> None:
    bad = month / "night-31" / "report.json"
    bad.parent.mkdir()
    bad.write_text(content)
    code, _, stderr = _cli(capsys, month, "-o", tmp_path / "out")
    assert code == 2
    assert stderr.startswith(f"policycheck: error: {bad}: {said}"), stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_other_bad_input(
    month: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, stderr = _cli(capsys, empty, "-o", tmp_path / "out")
    assert code == 2 and f"{empty}: no report.json in it or below it" in stderr
    code, _, stderr = _cli(capsys, tmp_path / "missing.json", "-o", tmp_path / "out")
    assert code == 2 and "missing.json: cannot read" in stderr
    report_dir = month / "night-01"
    code, _, stderr = _cli(capsys, month, "-o", report_dir)
    assert code == 2 and "holds a report set (report.json)" in stderr


def _write(path: Path, report: Report) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.model_dump_json(by_alias=True))
    return path


@pytest.mark.parametrize(
    ("run_update", "reason"),
    [
        (
            {
                "sources": [
                    SourceInfo(
                        path="plan.json", sha256="0" * 64, terraform_version="1", format_version="1"
                    )
                ]
            },
            "judged on a Terraform plan, not the live accounts",
        ),
        ({"simulated": True}, "made by the demo against a simulated account"),
    ],
)
def test_plan_and_demo_reports_are_no_evidence_of_the_live_state(
    tmp_path: Path, run_update: dict, reason: str
) -> None:
    """A live failure on day 1; a plan (or demo) report on day 2 that passes must not end
    it: the failure lasts until a live report shows it fixed (day 3)."""
    live1 = _write(tmp_path / "1/report.json", nightly(1, {"C.1": {"dev": "fail"}}))
    other = nightly(2, {"C.1": {"dev": "pass"}})
    other = other.model_copy(update={"run": other.run.model_copy(update=run_update)})
    skipped = _write(tmp_path / "2/report.json", other)
    live3 = _write(tmp_path / "3/report.json", nightly(3, {"C.1": {"dev": "pass"}}))
    history = build_history([live1, skipped, live3])
    timeline = _timeline(history, "C.1", "dev")
    assert timeline.statuses == ["fail", "no_report", "pass"]
    assert timeline.days_out_of_compliance == 2
    assert history.reports == 2
    assert history.used == [str(live1), str(live3)]
    assert [(s.report, s.reason) for s in history.skipped] == [(str(skipped), reason)]
    markdown = render_history_markdown(history)
    assert f"- `{skipped}`: {reason}" in markdown
    assert json.loads(render_history_json(history))["used"] == [str(live1), str(live3)]
    with pytest.raises(InputError, match=f"of the live accounts \\(skipped: 1 {reason}\\)"):
        build_history([skipped])


def test_legacy_report_has_no_star_environment_and_days_are_counted_right(
    tmp_path: Path,
) -> None:
    """A schema 1.0 report's whole-run gap (*) is no environment of the history; one day
    reads "1 day", not "1 days"."""
    legacy = json.loads(
        make_report(make_result("a", "fail", environment="dev")).model_dump_json(by_alias=True)
    )
    legacy["schema_version"] = "1.0"
    legacy["run"]["started_at"] = "2026-01-01T03:17:00+00:00"
    legacy["controls"] = [
        {"id": "C.1", "title": "t", "status": "fail", "counts": {}, "checks": ["a"]}
        | {"checks_not_run": []}
    ]
    path = tmp_path / "report.json"
    path.write_text(json.dumps(legacy))
    history = build_history([path])
    assert [(t.control_id, t.environment) for t in history.timelines] == [("C.1", "dev")]
    markdown = render_history_markdown(history)
    assert "1 day, 1 report;" in markdown
    assert "1 days" not in markdown and "1 days" not in render_html(read_report(path), history)


def test_help_gives_the_date_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["history", "--help"])
    out = capsys.readouterr().out
    assert "--since YYYY-MM-DD" in out and "--until YYYY-MM-DD" in out


def test_history_html_is_written_as_the_results_are_read(tmp_path: Path) -> None:
    """history.html holds every result of the latest report, each with its evidence: it
    was rendered whole in memory (917 MB at 57,600 results). Now what is held at once is
    a small part of it (bench/history.py measures the real sizes). Here 300 results rest
    on one fact value of 20,000 characters, stored once in report.json and shown with
    each result in the page."""
    value = {"Policy": "p" * 20_000}
    fact = FactEvidence(name="shared", actions=["s3:GetX"], fetched_at="t", value=value)
    evidence = Evidence(facts=[fact], sha256=evidence_sha256([("shared", value)]))
    results = [
        make_result("c", "fail", name=f"bucket-{index:05d}").model_copy(
            update={"evidence": evidence}
        )
        for index in range(300)
    ]
    report = nightly(1, {"C.1": {"dev": "fail"}}).model_copy(
        update={
            "results": results,
            "summary": summarize([], results).model_copy(update={"status": "fail"}),
        }
    )
    control = report.controls[0]
    control.checks.append("c")
    control.counts.fail = control.counts.total = len(results)
    control.status = "fail"
    write_reports(report, tmp_path / "night", ["json"])
    tracemalloc.start()
    try:
        code = main(
            ["history", str(tmp_path / "night"), "-o", str(tmp_path / "h"), "--format", "html"]
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    page = (tmp_path / "h" / "history.html").stat().st_size
    assert page > 6_000_000 and "bucket-00299" in (tmp_path / "h" / "history.html").read_text()
    assert peak < page / 2, f"peak {peak:,} bytes for a page of {page:,}"
