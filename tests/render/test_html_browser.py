"""The demo's HTML report in a real browser: headless Chromium (Debian's chromium and
chromium-driver) driven by selenium, loading report.html from a file:// URL with the
network off. The matrix and counts, the filters (clicked), a <script> seeded into the
simulated account that must not run, a screenshot, and print-to-PDF with each control
starting a page of its own.

Skipped, with the reason, where Chromium or its driver is not installed (.ci/run installs
them). Set POLICYCHECK_SCREENSHOT=PATH to keep the screenshot (`make screenshot` refreshes
the README's)."""

import base64
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policycheck.demo.seeding import demo_session
from policycheck.policy.controls import Catalog
from policycheck.report.model import Report, control_status_in, report_environments
from policycheck.report.statuses import STATUS_LOOKS
from support.harness import POLICY_PATH

#: One browser and one demo for the module: its tests run in one xdist worker (make test
#: distributes by --dist loadgroup).
pytestmark = pytest.mark.xdist_group("browser")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: A bucket policy statement id carrying markup: compliant otherwise, so it only shows in
#: the evidence (observed configuration and raw facts).
PAYLOAD = '</pre><script>window.injected = 1</script><img src=x onerror="window.injected = 2">'
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)


def _browser() -> tuple[str, str]:
    """The browser and driver executables, or skip saying what is missing."""
    pytest.importorskip("selenium", reason="selenium is not installed (the dev extra has it)")
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip(
            "headless Chromium not installed: apt-get install chromium chromium-driver "
            f"(found browser {browser}, driver {driver})"
        )
    return browser, driver


def _seed_payload(endpoint_url: str, bucket: str) -> None:
    """Replace the audit bucket's (compliant) policy with the same policy whose statement
    id is the payload."""
    s3 = demo_session("eu-central-1").client("s3", endpoint_url=endpoint_url)
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    for statement in policy["Statement"]:
        statement["Sid"] = PAYLOAD
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


@pytest.fixture(scope="module")
def demo(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    """The demo's report, with the payload seeded into the simulated account, and its
    report.html (the policy named as `policycheck demo` names it, relative)."""
    _browser()
    from policycheck.demo.command import audit_demo, demo_account
    from policycheck.policy.load import load_policy
    from policycheck.publish import write_reports

    policy = load_policy(Path(os.path.relpath(POLICY_PATH)))
    with demo_account(policy) as (demo_policy, endpoint_url, _):
        _seed_payload(endpoint_url, "nn-aiconnectors-audit-dev")
        report = audit_demo(demo_policy, catalog, endpoint_url)
    out = tmp_path_factory.mktemp("html")
    write_reports(report, out, ["json", "html"])
    return report, out / "report.html"


@pytest.fixture(scope="module")
def page(demo: tuple[Report, Path]) -> Iterator[Any]:
    """Chromium with the report loaded, the network off, logging every request."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    profile = tempfile.mkdtemp(prefix="policycheck-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
        )
        driver.get(demo[1].as_uri())
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shown(page: Any) -> int:
    return int(page.find_element("id", "shown").text)


def test_matrix_cells_and_counts(page: Any, demo: tuple[Report, Path]) -> None:
    report = demo[0]
    environments = report_environments(report)
    rows = page.find_elements("css selector", "table.matrix tbody tr")
    assert [row.find_element("css selector", "td").text for row in rows] == [
        c.id for c in report.controls
    ]
    for row, control in zip(rows, report.controls, strict=True):
        cells = row.find_elements("css selector", "td.cell")
        assert [cell.text for cell in cells] == [
            f"{STATUS_LOOKS[s].symbol} {STATUS_LOOKS[s].label}"
            for s in (control_status_in(report, control, env) for env in environments)
        ]
        counts = [td.text for td in row.find_elements("css selector", "td")[-4:]]
        assert counts == [
            str(n)
            for n in (
                control.counts.pass_,
                control.counts.fail,
                control.counts.error,
                control.counts.waived,
            )
        ]
    assert _shown(page) == len(report.results) == 146
    assert (
        "Overall: ✗ FAIL — 136 passed, 10 failed"
        in page.find_element("css selector", "header").text
    )


def test_filter_by_status_and_environment(page: Any, demo: tuple[Report, Path]) -> None:
    report = demo[0]
    passing = page.find_element("css selector", "#filters input[name=status][value=pass]")
    prod = page.find_element("css selector", "#filters input[name=env][value=prod]")
    try:
        passing.click()
        failures = [r for r in report.results if r.status != "pass"]
        assert _shown(page) == len(failures) == 10
        visible = [
            a for a in page.find_elements("css selector", "article.result") if a.is_displayed()
        ]
        assert {a.get_attribute("data-status") for a in visible} == {"fail"}
        dimmed = page.find_elements("css selector", "td.cell.filtered")
        assert dimmed and {c.get_attribute("data-status") for c in dimmed} == {"pass"}
        prod.click()
        assert _shown(page) == sum(r.environment == "dev" for r in failures)
        assert all(
            a.get_attribute("data-env") == "dev"
            for a in page.find_elements("css selector", "article.result")
            if a.is_displayed()
        )
    finally:
        for box in (passing, prod):
            if not box.is_selected():
                box.click()
    assert _shown(page) == len(report.results)


def test_injected_script_is_shown_as_text_and_never_runs(page: Any) -> None:
    assert page.execute_script("return typeof window.injected") == "undefined"
    assert not page.find_elements("css selector", "img")
    shown = [
        pre
        for pre in page.find_elements("css selector", "pre")
        if "window.injected = 1" in pre.get_attribute("textContent")
    ]
    assert shown, "the payload is not in the page as text"
    assert "<script>window.injected = 1</script>" in shown[0].get_attribute("textContent")


def test_the_page_requests_nothing_but_itself(page: Any, demo: tuple[Report, Path]) -> None:
    requested = [
        json.loads(entry["message"])["message"]["params"]["request"]["url"]
        for entry in page.get_log("performance")
        if '"Network.requestWillBeSent"' in entry["message"]
    ]
    own = [url for url in requested if not url.startswith(("chrome:", "data:", "about:"))]
    assert own == [demo[1].as_uri()]


def test_screenshot(page: Any, tmp_path: Path) -> None:
    page.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "report-html.png"
    assert page.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("POLICYCHECK_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["POLICYCHECK_SCREENSHOT"])


def _page_order(pdf: bytes) -> list[int]:
    """The PDF's page objects in reading order (the page tree walked depth first)."""
    kids = {
        int(number): [int(k) for k in re.findall(rb"(\d+) 0 R", body)]
        for number, body in re.findall(
            rb"(\d+) 0 obj\s*<</Type /Pages\b[^>]*?/Kids \[([^\]]*)\]", pdf
        )
    }
    [root] = set(kids) - {k for ks in kids.values() for k in ks}

    def walk(node: int) -> list[int]:
        return [page for kid in kids[node] for page in (walk(kid) if kid in kids else [kid])]

    return walk(root)


def test_print_to_pdf_starts_each_control_on_a_page(page: Any, demo: tuple[Report, Path]) -> None:
    """Chromium's PDF outline (from the headings) says where each control's heading is:
    each on a page of its own, at the top, in order, after the overview."""
    printed = page.execute_cdp_cmd(
        "Page.printToPDF",
        {"generateDocumentOutline": True, "preferCSSPageSize": True, "printBackground": True},
    )
    pdf = base64.b64decode(printed["data"])
    order = _page_order(pdf)
    headings = re.findall(
        rb"/Title \((SC\.[\d.]+) [^\n]*\)\n/Dest \[(\d+) 0 R /XYZ [\d.]+ ([\d.]+)", pdf
    )
    assert [h[0].decode() for h in headings] == [c.id for c in demo[0].controls]
    pages = [order.index(int(h[1])) for h in headings]
    assert pages == sorted(set(pages)) and pages[0] > 0
    [height] = {float(h) for h in re.findall(rb"/MediaBox \[0 0 [\d.]+ ([\d.]+)\]", pdf)}
    assert all(float(h[2]) > height - 80 for h in headings)  # the top of the page (A4, 12 mm)
