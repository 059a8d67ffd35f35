"""Renderers: each turns a report into its output file (OSCAL: the files it refers to too)."""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from policycheck.publish.staging import CHECKSUMS as CHECKSUMS
from policycheck.publish.staging import publish_set
from policycheck.render.html import write_html
from policycheck.render.junit import write_junit
from policycheck.render.oscal import (
    CATALOG_FILE,
    PLAN_FILE,
    RESULTS_FILE,
    write_catalog,
    write_plan,
    write_results,
)
from policycheck.render.reportjson import write_json
from policycheck.render.reportmd import render_markdown
from policycheck.render.sarif import write_sarif
from policycheck.render.summary import render_summary
from policycheck.render.tabular import write_csv
from policycheck.report.model import Report
from policycheck.report.spool import Scratch


def render_json(report: Report) -> str:
    """The report as JSON, valid against ``policycheck schema report``."""
    buffer = io.StringIO()
    write_json(report, buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Document:
    """One file a format writes."""

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


@dataclass(frozen=True)
class Format(Document):
    """A format: its own file, and the files it refers to, written beside it (OSCAL's
    assessment results import the assessment plan, which refers to the catalog)."""

    name: str = field(kw_only=True)
    companions: tuple[Document, ...] = field(default=(), kw_only=True)

    @property
    def documents(self) -> tuple[Document, ...]:
        return (self, *self.companions)

    @property
    def filenames(self) -> list[str]:
        return [document.filename for document in self.documents]


def _text(render: Callable[[Report], str]) -> Callable[[Report, TextIO], None]:
    def write(report: Report, out: TextIO) -> None:
        out.write(render(report))

    return write


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("report.json", write_json, name="json"),
        Format("report.md", _text(render_markdown), name="markdown"),
        Format("report.csv", write_csv, name="csv"),
        Format("report.junit.xml", write_junit, name="junit"),
        Format("report.sarif", write_sarif, name="sarif"),
        Format("summary.md", _text(render_summary), name="summary"),
        Format(
            RESULTS_FILE,
            write_results,
            name="oscal",
            companions=(Document(PLAN_FILE, write_plan), Document(CATALOG_FILE, write_catalog)),
        ),
        Format("report.html", write_html, name="html"),
    )
}


#: Every file a report set may hold (a set replaces the ones an older set wrote).
MANAGED = [filename for f in FORMATS.values() for filename in f.filenames]


def write_reports(report: Report, output_dir: Path, formats: list[str]) -> list[Path]:
    """Render each format's files, then publish them into ``output_dir`` with SHA256SUMS
    over them (in ``sha256sum`` format, for ``sha256sum -c`` and actions/attest) as one
    set: a reader sees the old set or the new one, and files of an older set that this
    one lacks are removed; other files in ``output_dir`` are kept (policycheck.publish.staging).
    The paths written, SHA256SUMS last."""
    scratch = Scratch()
    try:
        files: dict[str, str | bytes | Path] = {
            document.filename: document.write_into(report, scratch.path / document.filename)
            for name in formats
            for document in FORMATS[name].documents
        }
        return publish_set(output_dir, files, managed=MANAGED)
    finally:
        scratch.cleanup()
