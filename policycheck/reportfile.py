"""Reading a saved report.json in memory that does not grow with it: its results are read
one at a time into a ResultLog on disk and its evidence values into EvidenceValues; a
report of schema 1.1, which holds each value in its result, is stored the same way."""

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policycheck.errors import InputError
from policycheck.jsonstream import JsonReader
from policycheck.report import Report, Result, upgraded
from policycheck.spool import EvidenceValues, ResultLogWriter, Scratch, canonical, stored_line
from policycheck.validation import describe_errors


def read_report(path: Path) -> Report:
    """A saved report.json as this version states it (see report.upgraded), or InputError
    in one line naming the file: it cannot be read, or it is not a policycheck report (and
    its first problem)."""
    scratch = Scratch()
    values = EvidenceValues(scratch.path, owner=scratch)
    results = ResultLogWriter(scratch.path / "results.jsonl", owner=scratch)
    head: dict[str, Any] = {}
    referenced: set[str] = set()
    try:
        with open(path, encoding="utf-8") as file:
            reader = JsonReader(file)
            if not reader.at("{"):
                raise _not_a_report(path, ["(top level): not a JSON object"])
            for key in reader.members():
                if key == "results" and reader.at("["):
                    head[key] = []
                    for index in reader.items():
                        result = _result(path, index, reader.value())
                        referenced.update(_references(result))
                        results.add(stored_line(result, values))
                elif key == "evidence_values" and reader.at("{"):
                    for digest in reader.members():
                        _store(path, digest, reader.value(), values)
                else:
                    head[key] = reader.value()
            reader.end()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: cannot read: not UTF-8 text") from None
    except ValueError as exc:
        raise _not_a_report(path, [str(exc)]) from None
    missing = sorted(referenced - set(values))
    if missing:
        raise _not_a_report(path, [f"results: value {missing[0]} is not in evidence_values"])
    try:
        report = Report.model_validate(head)
    except ValidationError as exc:
        raise _not_a_report(path, describe_errors(path, exc)) from None
    stored = report.model_copy(update={"results": results.finish(), "evidence_values": values})
    return upgraded(stored)


def _not_a_report(path: Path, problems: list[str]) -> InputError:
    """One line: the file, that it is not a report, its first problem and how many more."""
    first = problems[0].removeprefix(f"{path}: ")
    more = f"; {len(problems) - 1} more" if len(problems) > 1 else ""
    return InputError(f"{path}: not a policycheck report ({first}{more})")


def _result(path: Path, index: int, value: Any) -> Result:
    try:
        return Result.model_validate(value)
    except ValidationError as exc:
        raise _not_a_report(path, describe_errors(path, exc, ("results", index))) from None


def _references(result: Result) -> list[str]:
    facts = result.evidence.facts if result.evidence else []
    return [fact.value_sha256 for fact in facts if fact.value_sha256 is not None]


def _store(path: Path, digest: str, value: Any, values: EvidenceValues) -> None:
    """Keep a value of evidence_values, checked against its SHA-256."""
    text = canonical(value)
    if hashlib.sha256(text.encode()).hexdigest() != digest:
        raise _not_a_report(
            path, [f"evidence_values.{digest}: the value does not match its SHA-256"]
        )
    values.add_canonical(digest, text)
