"""Renderers: each turns a report into one output file."""

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from policycheck.publish import CHECKSUMS as CHECKSUMS
from policycheck.publish import publish_set
from policycheck.render.html import write_html
from policycheck.render.junit import write_junit
from policycheck.render.markdown import render_markdown
from policycheck.render.oscal import write_oscal
from policycheck.render.reportjson import write_json
from policycheck.render.sarif import write_sarif
from policycheck.render.summary import render_summary
from policycheck.render.tabular import write_csv
from policycheck.report import Report
from policycheck.spool import Scratch


def render_json(report: Report) -> str:
    """The report as JSON, valid against ``policycheck schema report``."""
    buffer = io.StringIO()
    write_json(report, buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Format:
    name: str
    filename: str
    #: Writes the file as it renders it: the formats whose size grows with the results
    #: read them one at a time (report.md and summary.md have a size limit).
    write: Callable[[Report, TextIO], None]

    def render(self, report: Report) -> str:
        """The whole file as text."""
        buffer = io.StringIO()
        self.write(report, buffer)
        return buffer.getvalue()

    def write_into(self, report: Report, path: Path) -> Path:
        with open(path, "w", encoding="utf-8") as out:
            self.write(report, out)
        return path


def _text(render: Callable[[Report], str]) -> Callable[[Report, TextIO], None]:
    def write(report: Report, out: TextIO) -> None:
        out.write(render(report))

    return write


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("json", "report.json", write_json),
        Format("markdown", "report.md", _text(render_markdown)),
        Format("csv", "report.csv", write_csv),
        Format("junit", "report.junit.xml", write_junit),
        Format("sarif", "report.sarif", write_sarif),
        Format("summary", "summary.md", _text(render_summary)),
        Format("oscal", "assessment-results.json", write_oscal),
        Format("html", "report.html", write_html),
    )
}


def write_reports(report: Report, output_dir: Path, formats: list[str]) -> list[Path]:
    """Render one file per format, then publish them into ``output_dir`` with SHA256SUMS
    over them (in ``sha256sum`` format, for ``sha256sum -c`` and actions/attest) as one
    set: a reader sees the old set or the new one, and files of an older set that this
    one lacks are removed; other files in ``output_dir`` are kept (policycheck.publish).
    The paths written, SHA256SUMS last."""
    scratch = Scratch()
    try:
        files: dict[str, str | bytes | Path] = {
            FORMATS[name].filename: FORMATS[name].write_into(report, scratch.path / name)
            for name in formats
        }
        return publish_set(output_dir, files, managed=[f.filename for f in FORMATS.values()])
    finally:
        scratch.cleanup()
