"""Every view renders from a saved report.json: CSV, JUnit, SARIF, step summary."""

import argparse
import csv
import io
import json
import re
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from policycheck.render import FORMATS
from policycheck.render.oscal import statement_id
from policycheck.render.reportmd import SHOWN_PER_CHECK, render_markdown
from policycheck.render.sarif import fingerprint
from policycheck.render.summary import render_summary
from policycheck.report.model import Report
from support.harness import run_cli


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real report: the demo, with its deliberate failures (and its HTML report)."""
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--output-dir", out, "--format", "json,html", cwd=out)
    assert result.returncode == 0, result.stderr
    return out / "report.json"


@pytest.fixture(scope="module")
def report(demo_report: Path) -> Report:
    return Report.model_validate_json(demo_report.read_text())


def test_the_demo_report_says_its_account_is_simulated(report: Report) -> None:
    """So that history never counts it as evidence of a live account."""
    assert report.run.simulated
    assert "simulated by the demo" in render_markdown(report)


def test_render_every_format_with_checksums(demo_report: Path, tmp_path: Path) -> None:
    result = run_cli("render", demo_report, "--format", ",".join(FORMATS), "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    sums = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert sorted(line.split("  ")[1] for line in sums) == sorted(
        name for f in FORMATS.values() for name in f.filenames
    )
    import hashlib

    for line in sums:
        digest, name = line.split("  ")
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
    # JSON re-rendered from JSON is the same report.
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(demo_report.read_text())


def test_render_reproduces_the_demo_html_from_its_json(demo_report: Path, tmp_path: Path) -> None:
    """`policycheck demo --format html` writes report.html; render rebuilds it byte for
    byte from report.json (it depends on nothing else)."""
    result = run_cli("render", demo_report, "--format", "html", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.html").read_bytes() == (
        demo_report.parent / "report.html"
    ).read_bytes()


def test_markdown_states_the_inputs_and_each_evidence_hash(report: Report) -> None:
    markdown = FORMATS["markdown"].render(report)
    run_table = markdown[markdown.index("## Run") : markdown.index("## Control matrix")]
    assert "| Git commit " in run_table and f"`{report.run.git_commit}`" in run_table
    for path, digest in report.run.input_sha256.items():
        assert f"`{digest}`" in run_table, path
    assert "| SHA-256 of controls/SC.10.02.yaml " in run_table
    section = markdown[markdown.index("## Passed") :].splitlines()
    passed = [line for line in section if line.startswith("|")][2:]  # after the header
    shown: Counter[str] = Counter()
    passes = []  # report.md lists the first SHOWN_PER_CHECK passes of each check
    for r in report.results:
        if r.status == "pass" and shown[r.check_id] < SHOWN_PER_CHECK:
            shown[r.check_id] += 1
            passes.append(r)
    assert len(passed) == len(passes)
    for line, result in zip(passed, passes, strict=True):
        assert line.rstrip().endswith(f"| `{result.evidence.sha256[:12]}`     |"), line
    findings = markdown[markdown.index("## Failures") : markdown.index("## Passed")]
    assert findings.count("- **Evidence SHA-256:** `") == report.summary.results.fail


def test_every_format_is_offered_on_the_command_line() -> None:
    from policycheck.cli.options import formats

    assert formats(",".join(FORMATS)) == list(FORMATS)
    with pytest.raises(argparse.ArgumentTypeError, match=f"choose from {', '.join(FORMATS)}$"):
        formats("pdf")


def test_render_rejects_a_broken_report(tmp_path: Path) -> None:
    broken = tmp_path / "report.json"
    broken.write_text('{"schema_version": "1.0", "run": {}}')
    result = run_cli("render", broken, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert f"{broken}: not a policycheck report (run.tool_version: Field required" in result.stderr
    assert "Traceback" not in result.stderr


def test_csv_control_matrix(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(FORMATS["csv"].render(report))))
    assert list(rows[0]) == [
        "control",
        "requirement",
        "environment",
        "account",
        "region",
        "resource_arn",
        "check",
        "status",
        "reason",
        "timestamp",
        "tool_version",
        "evidence_sha256",
        "frameworks",
        "severity",
        "remediation",
    ]
    per_result = sum(len(r.control_ids) or 1 for r in report.results)
    assert len(rows) == per_result + 1
    # The drills are bound in dev only: in prod SC.10.03.02 has no result, and says why.
    assert rows[-1] | {"tool_version": ""} == {
        "control": "SC.10.03.02",
        "requirement": "",
        "environment": "prod",
        "account": "",
        "region": "",
        "resource_arn": "",
        "check": "",
        "status": "not_applicable",
        "reason": "the policy binds its checks only in dev",
        "timestamp": "",
        "tool_version": "",
        "evidence_sha256": "",
        "frameworks": "NIST-800-53:CP-4;NIST-800-53:CP-9(1);ISO-27001:A.5.30;ISO-27001:A.8.13;"
        "SOC2:A1.3",
        "severity": "",
        "remediation": "",
    }
    failing = [r for r in rows if r["status"] == "fail"]
    assert {r["check"] for r in failing} >= {"s3-versioning-enabled", "ssm-parameter-secure"}
    versioning = next(r for r in failing if r["check"] == "s3-versioning-enabled")
    assert versioning["control"] == "SC.10.01.01"
    assert versioning["requirement"].startswith("S3 versioning protects")
    assert versioning["resource_arn"] == "arn:aws:s3:::aiconnectors-terraform-state-dev"
    assert len(versioning["evidence_sha256"]) == 64
    assert versioning["frameworks"] == "NIST-800-53:CP-9;ISO-27001:A.8.13;SOC2:A1.2"


def test_junit(report: Report) -> None:
    root = ET.fromstring(FORMATS["junit"].render(report))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["dev", "prod"]
    total = sum(int(s.get("tests")) for s in suites)
    assert total == len(report.results) == len(root.findall(".//testcase"))
    failures = root.findall(".//failure")
    assert len(failures) == sum(r.status == "fail" for r in report.results)
    assert all(f.get("message") for f in failures)


def test_sarif(report: Report) -> None:
    sarif = json.loads(FORMATS["sarif"].render(report))
    assert sarif["version"] == "2.1.0"
    [run] = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "policycheck"
    rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert rule_ids == {r.check_id for r in report.results}
    failing = [r for r in report.results if r.status == "fail"]
    assert len(run["results"]) == len(failing)
    for entry in run["results"]:
        assert entry["ruleId"] in rule_ids
        location = entry["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert uri.startswith("controls/") and uri.endswith(".yaml")
        line = (
            (Path(__file__).parents[2] / uri)
            .read_text()
            .splitlines()[location["region"]["startLine"] - 1]
        )
        assert entry["ruleId"] in line  # located at the line listing the check
    fingerprints = [e["partialFingerprints"]["primaryLocationLineHash"] for e in run["results"]]
    assert sorted(fingerprints) == sorted(fingerprint(r) for r in failing)  # check, ARN, env
    assert len(set(fingerprints)) == len(fingerprints)


def test_summary_is_cut_under_the_limit(report: Report) -> None:
    full = render_summary(report)
    assert full.startswith("## policycheck: FAIL") and "Truncated" not in full
    cut = render_summary(report, limit=2500)
    assert len(cut.encode()) <= 2500
    assert "_Truncated:" in cut and "more findings are in the full report" in cut


def _oscal_schema() -> dict:
    """NIST's schema with its \\p{L}/\\p{N} classes in a form Python's re understands."""
    text = (Path(__file__).parents[1] / "schemas" / "oscal_complete_schema-1.2.3.json").read_text()
    return json.loads(text.replace("\\\\p{L}", "[^\\\\W\\\\d_]").replace("\\\\p{N}", "\\\\d"))


def test_oscal_validates_against_the_official_schema(report: Report) -> None:
    import jsonschema

    document = json.loads(FORMATS["oscal"].render(report))
    validator = jsonschema.Draft7Validator(
        _oscal_schema(), format_checker=jsonschema.FormatChecker()
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    results = document["assessment-results"]["results"][0]
    states = {f["target"]["target-id"]: f["target"]["status"]["state"] for f in results["findings"]}
    assert {f["target"]["type"] for f in results["findings"]} == {"statement-id"}
    assert states == {
        statement_id(c.id): "satisfied" if c.status == "pass" else "not-satisfied"
        for c in report.controls
        if c.status in ("pass", "fail", "error", "waived")
    }
    assert len(results["observations"]) == len(report.results)
    assert {m for o in results["observations"] for m in o["methods"]} == {"TEST"}
    # The crosswalk: a prop per framework requirement, a link per framework.
    secured = next(f for f in results["findings"] if f["target"]["target-id"] == "SC.10.02_smt")
    cis = [p for p in secured["props"] if p["class"] == "CIS-AWS"]
    assert [(p["name"], p["value"], p["ns"]) for p in cis] == [
        ("framework-requirement", "2.1.4", "urn:policycheck:crosswalk")
    ]
    assert "Block Public Access" in cis[0]["remarks"]
    assert {link["text"].split(":")[0] for link in secured["links"]} == {
        "NIST SP 800-53 Rev. 5",
        "ISO/IEC 27001",
        "SOC 2 Trust Services Criteria (AICPA, 2017)",
        "CIS Amazon Web Services Foundations Benchmark v5.0.0",
    }
    [resource] = document["assessment-results"]["back-matter"]["resources"]
    assert resource["rlinks"][0]["hashes"][0]["algorithm"] == "SHA-256"


def test_oscal_is_deterministic_and_the_schema_catches_mistakes(report: Report) -> None:
    import jsonschema

    assert FORMATS["oscal"].render(report) == FORMATS["oscal"].render(report)
    document = json.loads(FORMATS["oscal"].render(report))
    document["assessment-results"]["results"][0]["findings"][0]["target"]["type"] = "control"
    assert list(jsonschema.Draft7Validator(_oscal_schema()).iter_errors(document))


def test_a_framework_requirement_has_the_status_of_its_own_checks(
    report: Report, demo_report: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """NIST AC-6 (least privilege) is evidenced by the access checks alone (the task roles'
    isolation, the state's writers, the apply role's trust): it passes though SC.10.02
    fails (on a public access block in prod); AC-3 fails with it."""
    from policycheck.cli import main

    control = next(c for c in report.controls if c.id == "SC.10.02")
    assert control.status == "fail"
    isolated = [r.status for r in report.results if r.check_id == "dynamodb-access-isolated"]
    assert isolated and set(isolated) == {"pass"}
    markdown = FORMATS["markdown"].render(report)
    assert re.search(
        r"\| NIST SP 800-53 Rev\. 5 +\| AC-6 +\| SC\.10\.02 +\| dynamodb-access-isolated, "
        r"state-writers-restricted, lock-writers-restricted, apply-role-trust-pinned +\| PASS ",
        markdown,
    ), markdown[markdown.index("## Framework crosswalk") :][:1500]
    assert re.search(r"\| AC-3 +\| SC\.10\.02 +\| s3-public-access-blocked +\| FAIL ", markdown)
    html = FORMATS["html"].render(report)
    row = html[html.index("<code>AC-6</code>") :].split("</tr>")[0]
    assert "<code>dynamodb-access-isolated</code>" in row and "PASS" in row and "FAIL" not in row
    assert main(["controls", "--framework", "NIST-800-53", "--report", str(demo_report)]) == 0
    listing = capsys.readouterr().out
    assert re.search(
        r"AC-6 +SC\.10\.02 +dynamodb-access-isolated, +PASS +dev PASS, prod PASS", listing
    ), listing
