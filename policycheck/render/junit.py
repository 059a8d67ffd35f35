"""JUnit XML: one testsuite per environment, one testcase per result."""

from xml.etree import ElementTree as ET

from policycheck.render.markdown import unassessed_lines
from policycheck.report import UNJUDGED, Report


def render_junit(report: Report) -> str:
    """fail -> <failure>, error -> <error>, waived -> <skipped> with the waiver, a plan's
    results that judge nothing (not in the plan, not judgeable from a plan) -> <skipped>
    saying why; what was selected but not assessed -> an <error> in a "coverage" suite."""
    root = ET.Element("testsuites", name="policycheck", tests=str(len(report.results)))
    for environment in dict.fromkeys(r.environment for r in report.results):
        results = [r for r in report.results if r.environment == environment]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=environment,
            tests=str(len(results)),
            failures=str(sum(r.status == "fail" for r in results)),
            errors=str(sum(r.status == "error" for r in results)),
            skipped=str(sum(r.status in ("waived", *UNJUDGED) for r in results)),
            time="0",
        )
        for result in results:
            case = ET.SubElement(
                suite, "testcase", classname=result.check_id, name=result.resource.arn, time="0"
            )
            if result.status == "fail":
                ET.SubElement(
                    case, "failure", message=result.message, type=result.severity
                ).text = result.remediation
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
    gaps = unassessed_lines(report)
    if gaps:
        suite = ET.SubElement(
            root, "testsuite", name="coverage", tests=str(len(gaps)), errors=str(len(gaps))
        )
        for line in gaps:
            case = ET.SubElement(suite, "testcase", classname="coverage", name=line, time="0")
            ET.SubElement(case, "error", message=f"not assessed: {line}", type="NotAssessed")
        root.set("tests", str(len(report.results) + len(gaps)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
