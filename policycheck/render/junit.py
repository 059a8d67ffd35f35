"""JUnit XML: one testsuite per environment, one testcase per result."""

import json
from typing import TextIO
from xml.etree import ElementTree as ET

from policycheck.render.characters import visible
from policycheck.render.view import unassessed_lines
from policycheck.report.model import UNJUDGED, Report, Result

#: Indentation per level, as ElementTree.indent writes it.
SPACE = "  "


def write_junit(report: Report, out: TextIO) -> None:
    """fail -> <failure>, error -> <error>, waived -> <skipped> with the waiver, a plan's
    results that judge nothing (not in the plan, not judgeable from a plan) -> <skipped>
    saying why; what was selected but not assessed -> an <error> in a "coverage" suite.
    Written as the results are read (once to count them, once per environment)."""
    suites: dict[str, dict[str, int]] = {}
    for result in report.results:
        counts = suites.setdefault(
            result.environment, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        )
        counts["tests"] += 1
        counts["failures"] += result.status == "fail"
        counts["errors"] += result.status == "error"
        counts["skipped"] += result.status in ("waived", *UNJUDGED)
    gaps = unassessed_lines(report)
    total = sum(counts["tests"] for counts in suites.values()) + len(gaps)
    root = ET.Element("testsuites", name="policycheck", tests=str(total))
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    if not suites and not gaps:
        out.write(_xml(root) + "\n")
        return
    out.write(_open(root))
    for environment, counts in suites.items():
        seconds = sum(fact_seconds(r) for r in report.results if r.environment == environment)
        attributes = {
            "name": environment,
            **{k: str(v) for k, v in counts.items()},
            "time": f"{seconds:.3f}",
        }
        suite = ET.Element("testsuite", attributes)
        out.write(f"\n{SPACE}{_open(suite)}")
        for result in report.results:
            if result.environment == environment:
                out.write(f"\n{SPACE * 2}{_element(_case(result), 2)}")
        out.write(f"\n{SPACE}</testsuite>")
    if gaps:
        suite = ET.Element(
            "testsuite", name="coverage", tests=str(len(gaps)), errors=str(len(gaps))
        )
        out.write(f"\n{SPACE}{_open(suite)}")
        for line in gaps:
            case = ET.Element("testcase", classname="coverage", name=line, time="0")
            ET.SubElement(case, "error", message=f"not assessed: {line}", type="NotAssessed")
            out.write(f"\n{SPACE * 2}{_element(case, 2)}")
        out.write(f"\n{SPACE}</testsuite>")
    out.write("\n</testsuites>\n")


def fact_seconds(result: Result) -> float:
    """How long reading the facts of a result took (a fact several results rest on is
    counted in each)."""
    facts = result.evidence.facts if result.evidence else []
    return sum(fact.seconds or 0.0 for fact in facts)


def finding_text(result: Result) -> str:
    """What was found, where, against what was expected; then the fix."""
    return (
        f"{result.message}\n"
        f"resource: {result.resource.arn}\n"
        f"environment: {result.environment}\n"
        f"expected: {json.dumps(result.expected, sort_keys=True, default=str)}\n"
        f"observed: {json.dumps(result.observed, sort_keys=True, default=str)}\n"
        f"\nfix: {result.remediation}"
    )


def _case(result: Result) -> ET.Element:
    case = ET.Element(
        "testcase",
        classname=result.check_id,
        name=result.resource.arn,
        time=f"{fact_seconds(result):.3f}",
    )
    if result.status == "fail":
        ET.SubElement(
            case, "failure", message=result.message, type=result.severity
        ).text = finding_text(result)
    elif result.status == "error" and result.error:
        ET.SubElement(
            case, "error", message=result.message, type=result.error.code
        ).text = result.error.message
    elif result.status == "waived" and result.waiver:
        ET.SubElement(
            case,
            "skipped",
            message=(
                f"waived until {result.waiver.expires} ({result.waiver.ticket}): "
                f"{result.waiver.justification}"
            ),
        )
    elif result.status in UNJUDGED:
        label = "not in the plan" if result.status == "not_in_plan" else "not judged"
        ET.SubElement(case, "skipped", message=f"{label}: {result.message}")
    return case


def _element(element: ET.Element, level: int) -> str:
    """An element as ElementTree writes it at this depth of an indented document."""
    ET.indent(element, SPACE, level)
    return _xml(element)


def _open(element: ET.Element) -> str:
    """An element's start tag (ElementTree's quoting)."""
    text = _xml(element)
    return text[: -len(" />")] + ">"


def _xml(element: ET.Element) -> str:
    """An element as text, every character XML 1.0 forbids replaced (ElementTree writes
    them as they are: an ill-formed file)."""
    return visible(ET.tostring(element, "unicode"))
