"""report.json, written as it is read: the run, summary, controls and waivers indented,
then one result per line, then each distinct fact value once under its SHA-256 (schema
1.2). A run's results stream from disk; a report in memory is stored the same way."""

import json
from collections.abc import Iterator
from typing import TextIO

from pydantic import TypeAdapter

from policycheck.report.model import SCHEMA_VERSION, ControlResult, Report, WaiverReport
from policycheck.report.spool import stored_results

_CONTROLS = TypeAdapter(list[ControlResult])
_WAIVERS = TypeAdapter(list[WaiverReport])


def write_json(report: Report, out: TextIO) -> None:
    """The report as JSON, valid against ``policycheck schema report``."""
    parts = {
        "run": report.run.model_dump_json(indent=2, by_alias=True),
        "summary": report.summary.model_dump_json(indent=2, by_alias=True),
        "controls": _CONTROLS.dump_json(report.controls, indent=2, by_alias=True).decode(),
        "waivers": _WAIVERS.dump_json(report.waivers, indent=2, by_alias=True).decode(),
    }
    out.write(f'{{\n  "schema_version": {json.dumps(SCHEMA_VERSION)},\n')
    for name, text in parts.items():
        out.write(f'  "{name}": {_indented(text)},\n')
    with stored_results(report) as (lines, values):
        _write_items(out, "results", "[", "]", lines)
        entries = (f"{json.dumps(digest)}: {text}" for digest, text in values.raw_items())
        _write_items(out, "evidence_values", "{", "}", entries, last=True)
    out.write("}\n")


def _write_items(
    out: TextIO, name: str, opening: str, closing: str, items: Iterator[str], last: bool = False
) -> None:
    """``"name": [`` then each item on a line of its own."""
    out.write(f'  "{name}": {opening}')
    separator = "\n    "
    for item in items:
        out.write(separator + item)
        separator = ",\n    "
    out.write(("\n  " if separator != "\n    " else "") + closing + ("\n" if last else ",\n"))


def _indented(text: str) -> str:
    return text.replace("\n", "\n  ")
