"""Results and evidence on disk, so that a run's memory does not grow with its size.

A run writes each result as one line of JSON (its report.json form) the moment it is
judged; :class:`ResultSpool` keeps them in sorted runs of a few megabytes and merges the
runs at the end into a :class:`ResultLog`, which reads them back one at a time. Each
distinct fact value is stored once, under the SHA-256 of its canonical JSON, in
:class:`EvidenceValues`; a result's facts refer to it (``value_sha256``)."""

import hashlib
import heapq
import json
import os
import re
import shutil
import stat
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, overload

from policycheck.report.model import Evidence, Report, Result

#: A sorted run is written once it holds this many characters of results.
RUN_CHARS = 8 * 2**20
#: What report.json leaves out of a result's facts: their values (in evidence_values).
WITHOUT_VALUES: Any = {"evidence": {"facts": {"__all__": {"value"}}}}
#: Separates the fields of a sort key (below every character of a name).
KEY_SEPARATOR = "\x1f"


def canonical(value: Any) -> str:
    """The JSON a value is hashed and stored as: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def sort_key(*fields: str | int) -> str:
    """A key that sorts as the tuple of its fields does (numbers zero-padded)."""
    return KEY_SEPARATOR.join(f"{f:012d}" if isinstance(f, int) else f for f in fields)


class EvidenceValues(Mapping[str, Any]):
    """Each distinct fact value once, under its SHA-256, in a file of ``sha<TAB>canonical
    JSON`` lines; only the hashes and their offsets stay in memory."""

    def __init__(
        self, directory: Path, name: str = "evidence.values", owner: object = None
    ) -> None:
        self.path = directory / name
        self._file: IO[bytes] = open(self.path, "a+b")  # noqa: SIM115 - closed by close()
        #: Where the next value goes: appending (O_APPEND) writes there whatever a read
        #: left the position at, so no seek (a flush each) is needed to store one.
        self._end = self._file.seek(0, os.SEEK_END)
        self._offsets: dict[str, int] = {}
        self._owner = owner

    def add(self, value: Any) -> str:
        """Store ``value`` (if new); its SHA-256."""
        text = canonical(value)
        digest = hashlib.sha256(text.encode()).hexdigest()
        self.add_canonical(digest, text)
        return digest

    def add_canonical(self, digest: str, text: str) -> None:
        """Store a value given as its hash and canonical JSON (if new)."""
        if digest in self._offsets:
            return
        line = f"{digest}\t{text}\n".encode()
        self._offsets[digest] = self._end
        self._file.write(line)
        self._end += len(line)

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """(SHA-256, canonical JSON) of every value, in the order they were stored."""
        self._file.flush()
        return values_in(self.path)

    def __getitem__(self, digest: str) -> Any:
        offset = self._offsets[digest]
        self._file.flush()
        self._file.seek(offset)
        return json.loads(self._file.readline().decode().partition("\t")[2])

    def __iter__(self) -> Iterator[str]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)

    def close(self) -> None:
        self._file.close()


def values_in(path: Path) -> Iterator[tuple[str, str]]:
    """(SHA-256, canonical JSON) of every value an EvidenceValues file holds."""
    with open(path, "rb") as file:
        for line in file:
            digest, _, text = line.decode().rstrip("\n").partition("\t")
            yield digest, text


def stored_line(result: Result, values: EvidenceValues) -> str:
    """A result as report.json stores it: one line, each fact's value in ``values`` (the
    result itself is not changed)."""
    evidence = result.evidence
    if evidence and any(fact.value_sha256 is None for fact in evidence.facts):
        facts = [
            fact
            if fact.value_sha256 is not None
            else fact.model_copy(update={"value_sha256": values.add(fact.value), "value": None})
            for fact in evidence.facts
        ]
        stored = Evidence(facts=facts, sha256=evidence.sha256)
        result = result.model_copy(update={"evidence": stored})
    return result.model_dump_json(by_alias=True, exclude=WITHOUT_VALUES)


class ResultLog(Sequence[Result]):
    """Results stored one per line, read back one at a time (a Sequence: iterating it
    twice reads the file twice). Keeps ``owner`` (its temporary directory) alive."""

    def __init__(self, path: Path, offsets: array, owner: object = None) -> None:  # type: ignore[type-arg]
        self.path = path
        self._offsets = offsets
        self._owner = owner

    def lines(self) -> Iterator[str]:
        """Each result's JSON, in order."""
        with open(self.path, encoding="utf-8") as file:
            for line in file:
                yield line.rstrip("\n")

    def __iter__(self) -> Iterator[Result]:
        for line in self.lines():
            yield Result.model_validate_json(line)

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, index: int) -> Result: ...
    @overload
    def __getitem__(self, index: slice) -> list[Result]: ...
    def __getitem__(self, index: int | slice) -> Result | list[Result]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        offset = self._offsets[index]
        with open(self.path, "rb") as file:
            file.seek(offset)
            return Result.model_validate_json(file.readline())


@contextmanager
def stored_results(report: Report) -> Iterator[tuple[Iterator[str], EvidenceValues]]:
    """The report's results as report.json stores them, a line each, and the evidence
    values they refer to: a run's, read from its files; a report made in memory, its
    values stored in a scratch directory (removed after the block) as its lines are read."""
    values = report.evidence_values
    if isinstance(report.results, ResultLog) and isinstance(values, EvidenceValues):
        yield report.results.lines(), values
        return
    scratch = Scratch()
    stored = EvidenceValues(scratch.path)
    try:
        for value in values.values():
            stored.add(value)
        yield (stored_line(result, stored) for result in report.results), stored
    finally:
        stored.close()
        scratch.cleanup()


class ResultLogWriter:
    """Writes results in order into a ResultLog."""

    def __init__(self, path: Path, owner: object = None) -> None:
        self.path = path
        self._owner = owner
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by finish()
        self._offsets = array("q")
        self._position = 0

    def add(self, line: str) -> None:
        data = line + "\n"
        self._offsets.append(self._position)
        self._position += len(data.encode())
        self._file.write(data)

    def finish(self) -> ResultLog:
        self._file.close()
        return ResultLog(self.path, self._offsets, self._owner)


class ResultSpool:
    """Result lines with their sort keys (see sort_key), kept in sorted runs on disk."""

    def __init__(self, directory: Path, name: str = "results") -> None:
        self.directory = directory
        self.name = name
        self.runs: list[Path] = []
        self._pending: list[tuple[str, str]] = []
        self._chars = 0

    def add(self, key: str, line: str) -> None:
        self._pending.append((key, line))
        self._chars += len(key) + len(line)
        if self._chars >= RUN_CHARS:
            self.flush()

    def flush(self) -> None:
        """Write what is held as one more sorted run."""
        if not self._pending:
            return
        self._pending.sort()
        path = self.directory / f"{self.name}.{len(self.runs)}.run"
        with open(path, "w", encoding="utf-8") as file:
            file.writelines(f"{key}\t{line}\n" for key, line in self._pending)
        self.runs.append(path)
        self._pending, self._chars = [], 0


def merge_runs(runs: Iterable[Path], into: ResultLogWriter) -> ResultLog:
    """The runs (of one or several spools) merged in key order into ``into``."""
    files = [open(path, encoding="utf-8") for path in runs]  # noqa: SIM115 - closed below
    try:
        for line in heapq.merge(*files):
            into.add(line.rstrip("\n").partition("\t")[2])
    finally:
        for file in files:
            file.close()
    return into.finish()


#: A scratch directory's name: ``policycheck-<pid of its process>-<random>``.
SCRATCH_NAME = re.compile(r"policycheck-(?P<pid>[0-9]+)-[^/]+")


class Scratch:
    """A temporary directory that lives as long as the objects that keep it, named after
    the process that made it (its results and evidence values are removed by the next
    process to make one, should a kill -9 leave them behind)."""

    def __init__(self) -> None:
        remove_abandoned_scratch()
        self._directory = tempfile.TemporaryDirectory(prefix=f"policycheck-{os.getpid()}-")
        self.path = Path(self._directory.name)

    def cleanup(self) -> None:
        self._directory.cleanup()


_swept: set[str] = set()


def remove_abandoned_scratch() -> None:
    """Remove, once per process and temporary directory, the scratch directories of
    this user whose process has gone. A live process's is never touched (a pid reused
    since counts as live); neither is anything not a directory of this user's."""
    parent = tempfile.gettempdir()
    if parent in _swept:
        return
    _swept.add(parent)
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        match = SCRATCH_NAME.fullmatch(name)
        if match is None or _is_alive(int(match["pid"])):
            continue
        path = os.path.join(parent, name)
        try:
            status = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's; too large to be one
        return True
    return True
