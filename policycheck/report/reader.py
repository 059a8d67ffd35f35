"""Reading a saved report.json in memory that does not grow with it: its results are read
one at a time into a ResultLog on disk and its evidence values into EvidenceValues; a
report of schema 1.1, which holds each value in its result, is stored the same way."""

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from policycheck.errors import InputError
from policycheck.report.jsonstream import JsonReader
from policycheck.report.model import (
    ControlResult,
    Counts,
    Report,
    Result,
    count,
    evidence_sha256,
    overall_status,
    strongest,
    upgraded,
    worst_status,
)
from policycheck.report.spool import (
    EvidenceValues,
    ResultLogWriter,
    Scratch,
    canonical,
    stored_line,
)
from policycheck.report.tally import Tally
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
    return _verified(path, upgraded(stored))


def _verified(path: Path, report: Report) -> Report:
    """The report, once its results hold together with what it states: each result's
    evidence hash with its facts' values, and the counts and statuses of the summary and
    of each control (and environment) with the results. A report edited after the run,
    by hand or by a tool, is refused rather than shown as it claims."""
    tally = Tally()
    values = report.evidence_values
    for index, result in enumerate(report.results):
        evidence = result.evidence
        if evidence is not None:
            pairs = [
                (f.name, f.value if f.value_sha256 is None else values[f.value_sha256])
                for f in evidence.facts
            ]
            if evidence_sha256(pairs) != evidence.sha256:
                problem = f"results[{index}]: its evidence.sha256 is not that of its facts"
                raise _inconsistent(path, problem)
        tally.add(result)
    results = tally.stand_in()
    problems = [
        *_count_problems("summary", report.summary.results, results),
        *(
            problem
            for control in report.controls
            for problem in _control_problems(control, results)
        ),
    ]
    if overall_status(report.controls, results, report.run.gaps) != report.summary.status:
        problems.append(f"summary.status is {report.summary.status!r}, not what its results say")
    if problems:
        raise _inconsistent(path, problems[0])
    return report


def _count_problems(where: str, stated: Counts, results: list[Result]) -> list[str]:
    counted = count(results)
    if counted == stated:
        return []
    said, held = stated.model_dump(by_alias=True), counted.model_dump(by_alias=True)
    return [f"{where} counts {said}, its results {held}"]


def _control_problems(control: ControlResult, results: list[Result]) -> list[str]:
    """A control's counts against its checks' results; where its results hold a failure
    or an error, the control (and that environment) may not state anything better."""
    own = [r for r in results if r.check_id in control.checks]
    problems = _count_problems(f"controls.{control.id}", control.counts, own)
    stated = [(f"controls.{control.id}", control.status, own)] + [
        (
            f"controls.{control.id}.environments.{name}",
            there.status,
            [r for r in own if r.environment == name],
        )
        for name, there in control.environments.items()
    ]
    for where, status, held in stated:
        worst = worst_status(held)
        if worst in ("fail", "error") and strongest([status, worst]) != status:
            problems.append(f"{where} is {status!r} while its results hold {worst!r}")
    return problems


def _inconsistent(path: Path, problem: str) -> InputError:
    return InputError(f"{path}: the report does not hold together ({problem})")


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
