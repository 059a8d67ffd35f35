"""Renderers: each turns a report into one output file."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from policycheck.render.junit import render_junit
from policycheck.render.markdown import render_markdown
from policycheck.render.oscal import render_oscal
from policycheck.render.sarif import render_sarif
from policycheck.render.summary import render_summary
from policycheck.render.tabular import render_csv
from policycheck.report import Report

CHECKSUMS = "SHA256SUMS"


def render_json(report: Report) -> str:
    """The report as JSON, valid against ``policycheck schema report``."""
    return report.model_dump_json(indent=2, by_alias=True) + "\n"


@dataclass(frozen=True)
class Format:
    name: str
    filename: str
    render: Callable[[Report], str]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("json", "report.json", render_json),
        Format("markdown", "report.md", render_markdown),
        Format("csv", "report.csv", render_csv),
        Format("junit", "report.junit.xml", render_junit),
        Format("sarif", "report.sarif", render_sarif),
        Format("summary", "summary.md", render_summary),
        Format("oscal", "assessment-results.json", render_oscal),
    )
}


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_reports(report: Report, output_dir: Path, formats: list[str]) -> list[Path]:
    """Write one file per format into ``output_dir``, then SHA256SUMS over them (in
    ``sha256sum`` format, for ``sha256sum -c`` and actions/attest). Every file is replaced
    atomically, so an interrupted run leaves no partial report."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in formats:
        fmt = FORMATS[name]
        path = output_dir / fmt.filename
        _write_atomically(path, fmt.render(report))
        written.append(path)
    sums = "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n" for path in written
    )
    _write_atomically(output_dir / CHECKSUMS, sums)
    return [*written, output_dir / CHECKSUMS]
