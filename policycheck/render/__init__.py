"""Renderers: each turns a report into one output file."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from policycheck.render.markdown import render_markdown
from policycheck.report import Report


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
    )
}


def write_reports(report: Report, output_dir: Path, formats: list[str]) -> list[Path]:
    """Write one file per format into ``output_dir``; each file is replaced atomically."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in formats:
        fmt = FORMATS[name]
        path = output_dir / fmt.filename
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(fmt.render(report), encoding="utf-8")
        temporary.replace(path)
        written.append(path)
    return written
