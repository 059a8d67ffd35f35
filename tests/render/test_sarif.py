"""SARIF as GitHub code scanning reads it: upload-sarif's fingerprints (reimplemented from
github/codeql-action src/fingerprints.ts), alert identity, locations from the repository
root, severity bands, limits; and Microsoft's SARIF Multitool with GitHub's rule set."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from policycheck.git import dir_in_repository
from policycheck.render import FORMATS, sarif
from policycheck.report.model import Report
from support.harness import compliant_platform, run_cli

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "tests" / "fixtures" / "terraform" / "platform-dev.json"
MULTITOOL = (
    ROOT / ".ci/sarif-multitool/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository whose policy lives in a folder (compliance/), as an adopter's does,
    with the demo's report set written from outside it."""
    top = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q", str(top)], check=True)
    shutil.copy(ROOT / "policy.yaml", top / "compliance.yaml")
    (top / "compliance").mkdir()
    shutil.copy(ROOT / "policy.yaml", top / "compliance" / "policy.yaml")
    shutil.copytree(ROOT / "controls", top / "compliance" / "controls")
    out = top / "reports"
    result = run_cli(
        "demo",
        "--policy",
        top / "compliance" / "policy.yaml",
        "--output-dir",
        out,
        "--format",
        "json,sarif",
        cwd=top / "compliance",
    )
    assert result.returncode == 0, result.stderr
    return top


@pytest.fixture(scope="module")
def demo_sarif(repository: Path) -> dict:
    return json.loads((repository / "reports" / "report.sarif").read_text())


@pytest.fixture(scope="module")
def demo_report(repository: Path) -> Report:
    return Report.model_validate_json((repository / "reports" / "report.json").read_text())


@pytest.fixture(scope="module")
def plan_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    policy_path = compliant_platform(tmp_path_factory.mktemp("platform")).policy_path
    result = run_cli(
        "plan", PLAN, "--env", "dev", "--policy", policy_path, "-o", out,
        "--format", "json,sarif",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def line_hashes(path: Path) -> dict[int, str]:
    """upload-sarif's hash of each line of a file (codeql-action src/fingerprints.ts): a
    rolling hash over the next 100 characters that are not spaces or tabs, line endings
    normalised to \\n, -1 at the end of the file; ":n" counts repeats of a hash."""
    block, modulus, mask = 100, 37, (1 << 64) - 1
    first_mod = pow(modulus, block, 1 << 64)
    window, line_numbers = [0] * block, [-1] * block
    hashes: dict[int, str] = {}
    counts: dict[str, int] = {}
    state = {"hash": 0, "index": 0, "line": 0, "line_start": True, "prev_cr": False}

    def output() -> None:
        value = format(state["hash"], "x")
        counts[value] = counts.get(value, 0) + 1
        hashes[line_numbers[state["index"]]] = f"{value}:{counts[value]}"
        line_numbers[state["index"]] = -1

    def update(current: int) -> None:
        index = state["index"]
        begin, window[index] = window[index], current
        state["hash"] = (modulus * state["hash"] + current - first_mod * begin) & mask
        state["index"] = (index + 1) % block

    def process(current: int) -> None:
        if current in (0x20, 0x09) or (state["prev_cr"] and current == 0x0A):
            state["prev_cr"] = False
            return
        state["prev_cr"] = current == 0x0D
        current = 0x0A if current == 0x0D else current
        if line_numbers[state["index"]] != -1:
            output()
        if state["line_start"]:
            state["line_start"] = False
            state["line"] += 1
            line_numbers[state["index"]] = state["line"]
        if current == 0x0A:
            state["line_start"] = True
        update(current)

    with open(path, encoding="utf-8", newline="") as text:
        characters = text.read()
    for character in characters:
        process(ord(character))
    process(65535)
    for _ in range(block):
        if line_numbers[state["index"]] != -1:
            output()
        update(0)
    return hashes


def alert_identities(document: dict, source_root: Path) -> list[tuple[str, str]]:
    """What code scanning keys each result's alert on after upload-sarif: its rule and
    primaryLocationLineHash, filled from the located line's hash when the file has none."""
    identities = []
    for result in document["runs"][0]["results"]:
        given = result.get("partialFingerprints", {}).get("primaryLocationLineHash")
        if given is None:
            location = result["locations"][0]["physicalLocation"]
            hashes = line_hashes(source_root / location["artifactLocation"]["uri"])
            given = hashes[location["region"]["startLine"]]
        identities.append((result["ruleId"], given))
    return identities


def test_the_fingerprint_rule_matches_upload_sarif_on_known_lines(tmp_path: Path) -> None:
    """The reimplementation: a hash per line (and one past the last newline, as the end of
    the file counts as a character); the same text later in the file counts up (:2);
    spaces and CRLF do not count."""
    path = tmp_path / "f.yaml"
    path.write_text("x\nx\nx\n")
    hashes = line_hashes(path)
    assert sorted(hashes) == [1, 2, 3, 4]
    assert len({value.split(":")[0] for value in hashes.values()}) == 4
    spaced = tmp_path / "g.yaml"
    spaced.write_bytes(b" x\r\nx\r\n\tx\n")
    assert line_hashes(spaced) == hashes


def test_no_two_distinct_findings_share_an_alert(demo_sarif: dict, repository: Path) -> None:
    """The demo's dev and prod failures of one check sit on one control-file line; each is
    still its own alert."""
    results = demo_sarif["runs"][0]["results"]
    identities = alert_identities(demo_sarif, repository)
    findings = {
        (r["ruleId"], r["message"]["text"].split(" ")[0], r["properties"]["environment"])
        for r in results
    }
    assert len(findings) == len(results) == 10
    assert len(set(identities)) == len(identities)
    assert all(r["partialFingerprints"]["primaryLocationLineHash"] for r in results)


def test_locations_are_relative_to_the_repository_root(demo_sarif: dict, repository: Path) -> None:
    [run] = demo_sarif["runs"]
    assert "%SRCROOT%" in run["originalUriBaseIds"]
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert uri.startswith("compliance/controls/"), uri
        line = (repository / uri).read_text().splitlines()[location["region"]["startLine"] - 1]
        assert result["ruleId"] in line


def test_a_policy_in_no_git_checkout_gets_no_physical_location(
    demo_report: Report, tmp_path: Path
) -> None:
    """As the policy shipped inside an installed package: no file of the repository."""
    assert dir_in_repository(tmp_path) is None
    shipped = demo_report.model_copy(
        update={"run": demo_report.run.model_copy(update={"policy_dir_in_repository": None})}
    )
    results = json.loads(FORMATS["sarif"].render(shipped))["runs"][0]["results"]
    assert results and not any("physicalLocation" in loc for r in results for loc in r["locations"])
    assert {
        loc["logicalLocations"][0]["fullyQualifiedName"] for r in results for loc in r["locations"]
    } >= {"SC.10.02/s3-public-access-blocked"}


def test_rule_help_is_generic_and_each_message_has_its_resource_and_fix(
    demo_sarif: dict, demo_report: Report
) -> None:
    """The help GitHub shows on every alert of a rule names no resource; each result says
    its own resource and its own fix."""
    [run] = demo_sarif["runs"]
    names = {r.resource.name for r in demo_report.results}
    for rule in run["tool"]["driver"]["rules"]:
        help_text = rule["help"]["text"]
        assert not [name for name in names if name in help_text], rule["id"]
    failed = {(r.check_id, r.environment): r for r in demo_report.results if r.status == "fail"}
    for result in run["results"]:
        finding = failed[(result["ruleId"], result["properties"]["environment"])]
        text = result["message"]["text"]
        assert text.startswith(f"{finding.resource.arn} ({finding.environment}): ")
        assert text.endswith(f"Fix: {finding.remediation}")
    ssm = next(r for r in run["results"] if r["ruleId"] == "ssm-parameter-secure")
    assert "databricks/client-secret" in ssm["message"]["text"]
    assert "teams" not in ssm["message"]["text"]


def test_security_severity_in_githubs_bands(demo_sarif: dict) -> None:
    bands = {"critical": (9.0, 10.0), "high": (7.0, 8.9), "medium": (4.0, 6.9), "low": (0.1, 3.9)}
    driver = demo_sarif["runs"][0]["tool"]["driver"]
    for rule in driver["rules"]:
        properties = rule["properties"]
        low, high = bands[properties["severity"]]
        assert low <= float(properties["security-severity"]) <= high, rule["id"]
        assert "security" in properties["tags"] and len(properties["tags"]) <= sarif.MAX_TAGS
    assert "informationUri" not in driver  # no placeholder


def test_a_plan_with_nothing_failing_opens_no_alert(plan_set: Path) -> None:
    """Code scanning ignores ``kind``: what the plan could not judge is a notification."""
    report = Report.model_validate_json((plan_set / "report.json").read_text())
    assert report.summary.results.fail == report.summary.results.error == 0
    assert report.summary.results.not_assessed + report.summary.results.not_in_plan > 0
    [run] = json.loads((plan_set / "report.sarif").read_text())["runs"]
    assert run["results"] == []
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes and all(n["level"] == "note" for n in notes)


def test_results_beyond_githubs_limit_are_cut_with_a_note(
    demo_report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sarif, "MAX_RESULTS", 3)
    [run] = json.loads(FORMATS["sarif"].render(demo_report))["runs"]
    assert len(run["results"]) == 3
    [note] = run["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"].startswith("7 result(s) left out: GitHub code scanning")


def _multitool(path: Path, tmp_path: Path) -> list[dict]:
    """Microsoft's SARIF Multitool `validate` with the SARIF and GitHub rule sets: what it
    reports on the file (installed by `make test`: .ci/sarif-multitool)."""
    if not MULTITOOL.is_file():
        pytest.fail(f"{MULTITOOL} is missing: `make test` installs it (npm ci)")
    log = tmp_path / f"{path.parent.name}.validation.sarif"
    completed = subprocess.run(
        [str(MULTITOOL), "validate", "--rule-kind", "Sarif;Gh", str(path), "-o", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(log.read_text())["runs"][0]["results"]


def test_the_sarif_multitool_accepts_the_demo_and_the_plan(
    repository: Path, plan_set: Path, tmp_path: Path
) -> None:
    """No error, and no warning but the absent informationUri (policycheck has no public
    home page to point at)."""
    for path in (repository / "reports" / "report.sarif", plan_set / "report.sarif"):
        found = _multitool(path, tmp_path)
        assert {(r["ruleId"], r.get("level", "warning")) for r in found} <= {
            ("SARIF2005", "warning")
        }, [r["message"] for r in found]
