"""The views of a report and of a history, and the files each format is: a view gets a
report (or a history) and writes its text into a file the caller opens; where the files
go, and how they are published as one set, is policycheck.publish."""

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TextIO

from policycheck.render.document import Document, Spool, Writing, direct, whole
from policycheck.render.history import render_history_json, render_history_markdown
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
from policycheck.report.history import History, Period
from policycheck.report.model import Report


def render_json(report: Report) -> str:
    """The report as JSON, valid against ``policycheck schema report``."""
    buffer = io.StringIO()
    write_json(report, buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Format(Document[Report]):
    """A format: its own file, and the files it refers to, written beside it (OSCAL's
    assessment results import the assessment plan, which refers to the catalog)."""

    name: str = field(kw_only=True)
    companions: tuple[Document[Report], ...] = field(default=(), kw_only=True)

    @property
    def documents(self) -> tuple[Document[Report], ...]:
        return (self, *self.companions)

    @property
    def filenames(self) -> list[str]:
        return [document.filename for document in self.documents]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("report.json", direct(write_json), name="json"),
        Format("report.md", whole(render_markdown), name="markdown"),
        Format("report.csv", direct(write_csv), name="csv"),
        Format("report.junit.xml", direct(write_junit), name="junit"),
        Format("report.sarif", direct(write_sarif), name="sarif"),
        Format("summary.md", whole(render_summary), name="summary"),
        Format(
            RESULTS_FILE,
            # the results cite report.json by the SHA-256 of its text
            direct(partial(write_results, report_json=write_json)),
            name="oscal",
            companions=(
                Document(PLAN_FILE, direct(write_plan)),
                Document(CATALOG_FILE, direct(write_catalog)),
            ),
        ),
        Format("report.html", write_html, name="html"),
    )
}


#: Every file a report set may hold (a set replaces the ones an older set wrote).
MANAGED = [filename for f in FORMATS.values() for filename in f.filenames]


def render_reports(report: Report, formats: Iterable[str]) -> dict[str, Writing]:
    """The files of ``formats`` (each format's own, and those it refers to) by name, for
    the caller to write where it decides."""
    return {
        document.filename: document.of(report)
        for name in formats
        for document in FORMATS[name].documents
    }


def _of_history(render: Callable[[History], str]) -> Callable[[Period], str]:
    def render_period(period: Period) -> str:
        return render(period.history)

    return render_period


def _history_page(period: Period, out: TextIO, spool: Spool) -> None:
    """The latest report of the period as report.html shows it, with each control's strip
    of days, written as its results are read (a page of 57,600 results held whole took
    1 GB)."""
    write_html(period.latest, out, spool, period.history)


#: The history's views (policycheck history): its timelines as JSON and as Markdown, and
#: the latest report of the period as a page.
HISTORY_FORMATS: dict[str, Document[Period]] = {
    "json": Document("history.json", whole(_of_history(render_history_json))),
    "markdown": Document("history.md", whole(_of_history(render_history_markdown))),
    "html": Document("history.html", _history_page),
}


def render_history(period: Period, formats: Iterable[str]) -> dict[str, Writing]:
    """The history's files of ``formats`` by name, for the caller to write where it
    decides."""
    return {HISTORY_FORMATS[name].filename: HISTORY_FORMATS[name].of(period) for name in formats}
