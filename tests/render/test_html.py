"""The HTML report, in-process: everything from AWS or the policy is escaped, the page is
self-contained, and it says what an auditor needs (the browser tests click and print it)."""

import base64
import hashlib
import io
import re
import tempfile
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, get_args

from policycheck.render import render_json
from policycheck.render.html import SCRIPT, render_html, write_html
from policycheck.report.model import (
    ControlInEnvironment,
    ControlStatus,
    EnvironmentInfo,
    ErrorInfo,
    Evidence,
    FactEvidence,
    Gap,
    ResourceInfo,
    WaiverInfo,
    WaiverReport,
    assess_control,
    evidence_sha256,
)
from policycheck.report.reader import read_report
from policycheck.report.statuses import STATUS_LOOKS
from support.checks import make_report, make_result

PAYLOAD = '</pre><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">"\''


def _hostile_report():  # type: ignore[no-untyped-def]
    """A report where every string a run takes from AWS, the policy or the controls carries
    markup."""
    result = make_result("a", "fail", name=PAYLOAD)
    waiver = WaiverInfo(
        check="a",
        environment="dev",
        resource=PAYLOAD,
        justification=PAYLOAD,
        owner=PAYLOAD,
        ticket=PAYLOAD,
        expires="2027-01-01",
        expired=False,
    )
    result = result.model_copy(
        update={
            "title": PAYLOAD,
            "message": PAYLOAD,
            "remediation": PAYLOAD,
            "observed": {PAYLOAD: [PAYLOAD]},
            "expected": PAYLOAD,
            "resource": ResourceInfo(
                type="s3_bucket", name=PAYLOAD, arn=PAYLOAD, region=PAYLOAD, account_id=PAYLOAD
            ),
            "error": ErrorInfo(code=PAYLOAD, message=PAYLOAD),
            "waiver": waiver,
            "evidence": Evidence(
                facts=[
                    FactEvidence(name=PAYLOAD, actions=[PAYLOAD], fetched_at=PAYLOAD, value=PAYLOAD)
                ],
                sha256=PAYLOAD,
            ),
        }
    )
    control = assess_control(
        "C.1",
        PAYLOAD,
        ["a"],
        [result],
        [PAYLOAD],
        {
            "dev": ControlInEnvironment(status="pass"),
            PAYLOAD: ControlInEnvironment(status="not_applicable", reason=PAYLOAD),
        },
        requirements={"a": PAYLOAD},
        source_file=PAYLOAD,
        objective=PAYLOAD,
        frameworks={"NIST-800-53": {"CP-9": PAYLOAD}, PAYLOAD: {PAYLOAD: PAYLOAD}},
    )
    report = make_report(result, controls=(control,))
    run = report.run.model_copy(
        update={
            "policy_file": PAYLOAD,
            "git_commit": PAYLOAD,
            "input_sha256": {PAYLOAD: PAYLOAD},
            "environments": [
                EnvironmentInfo(name="dev", account_id=PAYLOAD, caller_arn=PAYLOAD, region=PAYLOAD),
                EnvironmentInfo(
                    name=PAYLOAD, account_id="1", caller_arn="", region="r", error=PAYLOAD
                ),
            ],
            "gaps": [Gap(environment=PAYLOAD, reason=PAYLOAD)],
            "selected_checks": [PAYLOAD],
        }
    )
    waivers = [WaiverReport(**waiver.model_dump(), state="active", matched=1, waived=1)]
    return report.model_copy(update={"run": run, "waivers": waivers})


class _Tags(HTMLParser):
    """Every element and attribute of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def _parsed(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_everything_from_aws_or_the_policy_is_escaped() -> None:
    page = render_html(_hostile_report())
    parsed = _parsed(page)
    assert parsed.tags.count("script") == 1  # ours
    assert "img" not in parsed.tags
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert "&lt;/pre&gt;&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    # attribute values stay inside their quotes
    assert {name for name, _ in parsed.attributes} <= {
        "lang",
        "charset",
        "http-equiv",
        "content",
        "name",
        "class",
        "id",
        "href",
        "data-status",
        "data-env",
        "type",
        "value",
        "checked",
        "aria-hidden",
        "title",
        "role",
        "aria-label",
        "style",
    }


def test_self_contained_and_only_its_own_script_may_run() -> None:
    page = render_html(_hostile_report())
    parsed = _parsed(page)
    assert not {"link", "img", "iframe", "object", "embed", "base"} & set(parsed.tags)
    assert not [name for name, _ in parsed.attributes if name in ("src", "srcset", "action")]
    assert all(
        value.startswith("#") for name, value in parsed.attributes if name == "href" and value
    )
    assert "url(" not in page and "@import" not in page
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    [policy] = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy.startswith("default-src &#x27;none&#x27;")
    assert f"script-src &#x27;sha256-{digest}&#x27;" in policy
    assert f"<script>{SCRIPT}</script>" in page


def test_auditor_content() -> None:
    """Run metadata, matrix, crosswalk, waivers, manual statements, what was not assessed,
    and each result traced to its evidence."""
    page = render_html(_hostile_report())
    for heading in ("Run", "Control matrix", "Framework crosswalk", "Not assessed", "Waivers"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count('<section class="control"') == 1
    assert "<h3>Manual statements (verified by hand)</h3>" in page
    assert "<th>Fact</th><th>API actions</th><th>Fetched at</th>" in page
    assert "<strong>Evidence SHA-256:</strong>" in page
    assert (
        "<dt>Verifies</dt>" in page and "<dt>Waiver</dt>" in page and "<dt>AWS error</dt>" in page
    )
    assert "<strong>Observed</strong>" in page and "<strong>Expected</strong>" in page
    assert "NIST SP 800-53 Rev. 5" in page and "<code>CP-9</code>" in page
    # the matrix: a cell per control and environment, with its status as text
    cells = re.findall(r'<td class="cell" data-status="(\w+)" data-env="([^"]+)">', page)
    assert [status for status, _ in cells] == ["fail", "not_applicable"]


def test_every_status_reads_without_colour() -> None:
    statuses = [*get_args(ControlStatus), "no_report"]
    assert sorted(STATUS_LOOKS) == sorted(statuses)
    symbols = [look.symbol for look in STATUS_LOOKS.values()]
    letters = [look.letter for look in STATUS_LOOKS.values()]
    assert len(set(symbols)) == len(symbols) and len(set(letters)) == len(letters)
    assert all(letter.isascii() and len(letter) == 1 for letter in letters)


def test_legacy_report_renders_what_it_can_tell() -> None:
    """A report of schema 1.0 (re-derived on reading) shows statuses from its results and
    its unknown coverage as not assessed, never a pass."""
    from policycheck.report.model import upgraded

    legacy = make_report(make_result("a", "pass", environment="dev"))
    control = assess_control("C.1", "t", ["a"], legacy.results)
    legacy = legacy.model_copy(update={"schema_version": "1.0", "controls": [control]})
    run = legacy.run.model_copy(
        update={
            "environments": [
                EnvironmentInfo(name="dev", account_id="1", caller_arn="a", region="r")
            ]
        }
    )
    page = render_html(upgraded(legacy.model_copy(update={"run": run})))
    assert re.search(r'<p class="overall">Overall: <span class="badge tone-gap">', page)
    assert "report of an older policycheck (schema 1.0)" in page
    assert re.findall(r'<td class="cell" data-status="(\w+)" data-env="dev">', page) == ["pass"]


def _plan_report():  # type: ignore[no-untyped-def]
    """A report judged on a plan: C.1 passes (the plan fixes it) with a resource not in
    the plan; C.2's only result is not judgeable from a plan."""
    from policycheck.report.model import ControlInEnvironment, PlanChange, SourceInfo

    fixed = make_result("a", "pass").model_copy(
        update={
            "plan": PlanChange(
                file="plan.json", address="aws_s3_bucket.b", action="update", before_status="fail"
            )
        }
    )
    absent = make_result("c", "not_in_plan", name="gone")
    unjudged = make_result("b", "not_assessed", name="repo").model_copy(
        update={"control_ids": ["C.2"]}
    )
    results = [fixed, absent, unjudged]
    otherwise = {"dev": ControlInEnvironment(status="not_assessed", reason="no result")}
    controls = (
        assess_control("C.1", "t1", ["a", "c"], results, environments=otherwise),
        assess_control("C.2", "t2", ["b"], results, environments=otherwise),
    )
    report = make_report(*results, controls=controls)
    source = SourceInfo(
        path="plan.json", sha256="0" * 64, terraform_version="1.9", format_version="1.2"
    )
    run = report.run.model_copy(update={"sources": [source], "selected_environments": ["dev"]})
    return report.model_copy(update={"run": run})


def test_plan_report_states_what_the_markdown_states() -> None:
    """On a plan the HTML qualifies the verdict, counts what the plan could not judge, says
    what the plan changes, and lists every control its matrix shows NOT ASSESSED."""
    from policycheck.render.markdown import MARKDOWN
    from policycheck.render.reportmd import render_markdown
    from policycheck.render.view import (
        overall,
        plan_change_lines,
        unjudged_control_lines,
        unjudged_lines,
    )

    report = _plan_report()
    page = render_html(report)
    markdown = render_markdown(report)
    label, detail = overall(report, waived=True)
    assert label == "PASS on the plan"
    assert f"</span> on the plan — {detail}.</p>" in page
    assert "1 not in plan, 1 not judgeable from a plan" in detail
    assert "<h2>What this plan changes</h2>" in page
    for line in [*plan_change_lines(report), *unjudged_lines(report)]:
        assert f"<li>{escape(line)}</li>" in page
    assert "Nothing: every selected control was assessed" not in page
    section = page.split('<section id="not-assessed">')[1].split("</section>")[0]
    matrix = [
        (row.split('"')[0], env)
        for row in page.split('<tr id="matrix-')[1:]
        for env in re.findall(
            r'<td class="cell" data-status="not_assessed" data-env="([^"]+)">',
            row.split("</tr>")[0],
        )
    ]
    assert matrix == [("C.2", "dev")]
    for control_id, env in matrix:
        assert f"{control_id} in {env}: not judgeable from a plan" in section
    for line in unjudged_control_lines(report, MARKDOWN):  # escaped as report.md escapes
        assert f"- {line}" in markdown
    assert "<th>Not in plan</th><th>Not judgeable</th>" in page


def test_a_saved_report_shows_each_fact_value_stored_once(tmp_path: Path) -> None:
    """report.json keeps each fact value once, in evidence_values (schema 1.2): the page of
    the saved report shows the values themselves, as the page of the run does."""
    value = {"Status": "Enabled", "marker": "value-shown-to-the-auditor"}
    fact = FactEvidence(
        name="s3_bucket.versioning", actions=["s3:GetBucketVersioning"], fetched_at="t", value=value
    )
    evidence = Evidence(facts=[fact], sha256=evidence_sha256([(fact.name, value)]))
    results = [
        make_result(check, "pass").model_copy(update={"evidence": evidence}) for check in ("a", "b")
    ]
    control = assess_control("C.1", "Versioned", ["a", "b"], results, [])
    report = make_report(*results, controls=(control,))
    path = tmp_path / "report.json"
    path.write_text(render_json(report))
    saved = read_report(path)
    assert [r.evidence.facts[0].value for r in saved.results if r.evidence] == [None, None]
    assert list(saved.evidence_values.values()) == [value]
    page = render_html(saved)
    assert page == render_html(report)
    assert page.count("value-shown-to-the-auditor") == 2


def test_the_page_holds_results_aside_only_in_files_the_caller_gives(tmp_path: Path) -> None:
    """report.html renders each control's results as it reads them once and writes them
    control by control: it holds them in the caller's spool files (a file each control,
    closed after), never in a directory of its own."""
    report = _hostile_report()
    given: list[IO[str]] = []

    def spool() -> IO[str]:
        file = tempfile.TemporaryFile("w+", encoding="utf-8", dir=tmp_path)  # noqa: SIM115 - the view closes it
        given.append(file)
        return file

    page = io.StringIO()
    write_html(report, page, spool)
    assert len(given) == len(report.controls) and all(file.closed for file in given)
    assert page.getvalue() == render_html(report)
