"""Drill records: one YAML or JSON file per drill run, committed to git (the policy's
``evidence_dir``).

A record says which drill ran, when, where, whether it passed, how long recovery took and
where the logs are. :class:`RecordStore` reads the records of a directory and, from git
history, the records that were deleted from it.

Records are untrusted input read into every report, so the store fails closed and stays
inside the repository: the records directory must resolve inside ``root``; symbolic links
are never followed (a symlinked record or folder is refused as invalid); a record is at
most :data:`MAX_RECORD_BYTES` and may use neither YAML anchors nor aliases; only the
schema's fields (and the record's path) reach a report, and an error message quotes at
most a short excerpt of a record. Git history that cannot be read in full (no repository,
git missing or refusing the repository, shallow, partial or grafted clone) is an error.
"""

import datetime as dt
import os
import reprlib
import stat
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import AnyUrl, ConfigDict, Field, ValidationError

from policycheck.git import GitError, GitHistory, run_git, short
from policycheck.validation import StrictModel

RECORD_SUFFIXES = (".yaml", ".yml", ".json")
#: The name under which the drill facts ask for the record store (``ctx.client``).
RECORD_STORE = "records"
#: A record larger than this is refused without being read whole.
MAX_RECORD_BYTES = 64 * 1024
#: YAML collections nested deeper than this are refused (a record nests two levels).
MAX_NESTING = 8
#: The longest excerpt of a record an error message quotes.
EXCERPT_CHARS = 40
#: Validation errors described per record (the rest are counted).
MAX_ERRORS = 5


class DrillRecord(StrictModel):
    """One run of a DR drill."""

    #: The title of its JSON Schema (``policycheck schema evidence``), as published.
    model_config = ConfigDict(title="EvidenceRecord")

    drill: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Drill id.")
    date: dt.date = Field(description="Day the drill ran (YYYY-MM-DD).")
    environment: str = Field(min_length=1)
    outcome: Literal["pass", "fail"]
    time_to_recovery_minutes: float = Field(ge=0, description="Measured time to recovery.")
    evidence: list[AnyUrl] = Field(min_length=1, description="Links to workflow logs etc.")
    performed_by: str | None = None
    notes: str | None = None


class RecordError(Exception):
    """A record that cannot be read or does not match the format."""

    #: The error code results state (report content: the name stays).
    code = "InvalidEvidence"


class RecordsDirError(Exception):
    """The records directory does not exist, is not a directory, or is outside the
    repository: no drill can be judged."""

    #: The error code results state (report content: the name stays).
    code = "EvidenceDirUnavailable"


class DirProblem(NamedTuple):
    """A problem with the records directory. ``error``: the drill check cannot judge any
    drill (the directory is unusable); ``warning``: the drill check will be an error in
    this checkout (git history unreadable here), which may be fine elsewhere (CI)."""

    severity: Literal["error", "warning"]
    message: str


# --- where records may be read ------------------------------------------------------------


def directory_problem(directory: Path, root: Path) -> str | None:
    """Why records cannot be read from ``directory`` at all (None: it can). Symlinks in
    the directory's own path are resolved: it must end up inside ``root``."""
    resolved, resolved_root = directory.resolve(), root.resolve()
    if not resolved.is_relative_to(resolved_root):
        return f"evidence directory {directory} is outside the repository {root}"
    if not resolved.exists():
        return f"evidence directory {directory} does not exist"
    if not resolved.is_dir():
        return f"evidence directory {directory} is not a directory"
    return None


def git_history_problem(directory: Path) -> str | None:
    """Why the git history of ``directory`` cannot be read in full (None: it can)."""
    try:
        GitHistory.open(directory)
    except GitError as exc:
        return str(exc)
    return None


def records_dir_problems(directory: Path, root: Path) -> list[DirProblem]:
    """What ``policycheck validate`` reports about the records directory: errors that
    make every drill result an error (outside ``root``, missing, not a directory), else
    warnings when git history cannot be read in full from this checkout."""
    problem = directory_problem(directory, root)
    if problem:
        return [DirProblem("error", problem)]
    problem = git_history_problem(directory.resolve())
    if problem:
        return [
            DirProblem("warning", f"{problem} (DR drill results will be errors in this checkout)")
        ]
    return []


# --- the store --------------------------------------------------------------------------


class RecordProblem(NamedTuple):
    """A file in the records directory that was refused or could not be parsed."""

    #: Path relative to the records directory (its first part is the drill's folder).
    within: str
    #: Path relative to the repository root, as reports show it.
    path: str
    reason: str
    #: A folder (symlinked or unreadable), not a file: whatever it holds is refused.
    folder: bool = False

    def may_be(self, drill: str) -> bool:
        """Whether the refused file or folder may hold the drill's records."""
        return belongs_to(f"{self.within}/_" if self.folder else self.within, drill)

    @property
    def message(self) -> str:
        return f"{self.path}: {self.reason}"


class RecordStore:
    """Reads the records of one directory (once) and its git history (once).

    ``root`` is the repository (see :func:`repository_root`): a directory resolving
    outside it is an error for every drill, and nothing outside it is ever read."""

    def __init__(self, directory: Path, root: Path) -> None:
        self.directory = Path(directory)
        self.root = Path(root)
        self._lock = threading.Lock()
        self._loaded = False
        self._directory_problem: str | None = None
        self._records: list[tuple[str, str, DrillRecord]] = []
        self._problems: list[RecordProblem] = []
        self._deletions: list[dict[str, Any]] | None = None
        self._git_problem: str | None = None

    # records in the working tree

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._directory_problem = directory_problem(self.directory, self.root)
            if self._directory_problem is None:
                self._scan()
            self._loaded = True

    def _checked(self) -> None:
        self._load()
        if self._directory_problem:
            raise RecordsDirError(self._directory_problem)

    def _scan(self) -> None:
        base, root = self.directory.resolve(), self.root.resolve()

        def display(path: Path) -> str:
            return path.relative_to(root).as_posix() or "."

        def refuse(path: Path, reason: str, folder: bool = False) -> None:
            within = path.relative_to(base).as_posix()
            self._problems.append(RecordProblem(within, display(path), reason, folder))

        def unreadable(error: OSError) -> None:
            refuse(Path(error.filename), f"cannot read: {error.strerror or error}", True)

        for current, dirnames, filenames in os.walk(base, onerror=unreadable):
            folder = Path(current)
            for name in sorted(dirnames):
                if name == ".git" or (folder / name).is_symlink():
                    dirnames.remove(name)
                    if name != ".git":
                        refuse(folder / name, "is a symbolic link; refused (not followed)", True)
            dirnames.sort()
            for name in sorted(filenames):
                path = folder / name
                if not name.endswith(RECORD_SUFFIXES):
                    continue
                try:
                    record = record_from_text(read_record(path))
                except RecordError as exc:
                    refuse(path, str(exc))
                    continue
                self._records.append((path.relative_to(base).as_posix(), display(path), record))

    def problems(self, drill: str | None = None) -> list[RecordProblem]:
        """The refused or invalid records of the directory; with ``drill``, those that
        may be the drill's (see :func:`belongs_to`). Raises RecordsDirError if the
        directory itself is unusable."""
        self._checked()
        return [p for p in self._problems if drill is None or p.may_be(drill)]

    def readable_records_for(self, drill: str) -> list[dict[str, Any]]:
        """The drill's valid records, oldest first, ignoring invalid ones (the drills
        table shows those beside them). Raises RecordsDirError."""
        self._checked()
        return sorted(
            (
                {**record.model_dump(mode="json"), "path": path}
                for _, path, record in self._records
                if record.drill == drill
            ),
            key=lambda r: (r["date"], r["path"]),
        )

    def records_for(self, drill: str) -> list[dict[str, Any]]:
        """The drill's records, oldest first: the schema's fields and the path relative to
        the repository root. Raises RecordsDirError if the directory is unusable, and
        RecordError if a file that may belong to the drill is refused or unreadable
        (fail closed)."""
        broken = self.problems(drill)
        if broken:
            raise RecordError("; ".join(problem.message for problem in broken))
        return self.readable_records_for(drill)

    # records deleted from git history

    def deletions_for(self, drill: str) -> list[dict[str, Any]]:
        """Records of the drill that were deleted from git history: path, deletion date,
        commit and the deleted record's drill date (None if it could not be read). Raises
        RecordsDirError, or GitError if the history cannot be read in full."""
        self._checked()
        with self._lock:
            if self._deletions is None and self._git_problem is None:
                try:
                    self._deletions = deleted_records(GitHistory.open(self.directory.resolve()))
                except GitError as exc:
                    self._git_problem = str(exc)
        if self._git_problem is not None:
            raise GitError(self._git_problem)
        assert self._deletions is not None
        return [
            deletion
            for deletion in self._deletions
            if deletion["drill"] == drill
            or (deletion["drill"] is None and belongs_to(deletion["within"], drill))
        ]


def belongs_to(relative_path: str, drill: str) -> bool:
    """Whether an unreadable record may be the drill's. Records are kept as
    ``<drill-id>/<file>``; one outside such a folder counts for every drill (fail closed)."""
    parts = PurePosixPath(relative_path).parts
    return len(parts) <= 1 or parts[0] == drill


# --- reading one record -----------------------------------------------------------------


def read_record(path: Path) -> str:
    """A record's text: a regular file (never a symbolic or hard link) of at most
    MAX_RECORD_BYTES, in UTF-8; raise RecordError otherwise, without reading more."""
    try:
        status = os.lstat(path)
        _refuse_kind(status)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        descriptor = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        try:
            _refuse_kind(os.fstat(descriptor))  # replaced since the lstat
            chunks, size = [], 0
            while size <= MAX_RECORD_BYTES:
                chunk = os.read(descriptor, MAX_RECORD_BYTES + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(descriptor)
    except OSError as exc:
        raise RecordError(f"cannot read: {exc.strerror or type(exc).__name__}") from None
    data = b"".join(chunks)
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(_too_large(len(data)))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"not UTF-8 text (byte {exc.start})") from None


def _refuse_kind(status: os.stat_result) -> None:
    if stat.S_ISLNK(status.st_mode):
        raise RecordError("is a symbolic link; refused (not followed)")
    if not stat.S_ISREG(status.st_mode):
        raise RecordError("is not a regular file; refused")
    if status.st_nlink > 1:  # another name of a file that may be anywhere on the disk
        raise RecordError(f"is a hard link ({status.st_nlink} names); refused, as links are")
    if status.st_size > MAX_RECORD_BYTES:
        raise RecordError(_too_large(status.st_size))


def _too_large(size: int) -> str:
    return f"is {size} bytes, over the {MAX_RECORD_BYTES // 1024} KiB limit for a record; refused"


class _Refused(yaml.MarkedYAMLError):
    pass


class _RecordLoader(yaml.SafeLoader):
    """SafeLoader without anchors or aliases (no "billion laughs": every node is parsed
    from its own text) and with bounded nesting (no deep recursion)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                problem="anchors and aliases (& and *) are not allowed in evidence records",
                problem_mark=event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise _Refused(
                    problem=f"nested deeper than {MAX_NESTING} levels",
                    problem_mark=event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """Parse a record's YAML (or JSON) with :class:`_RecordLoader`; raise RecordError
    with the line and a short reason (never the input itself)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RECORD_BYTES:
        raise RecordError(_too_large(len(text.encode("utf-8", "surrogatepass"))))
    loader = _RecordLoader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        problem = exc.problem or exc.context or type(exc).__name__
        raise RecordError(f"invalid YAML/JSON: {where}{short(problem)}") from None
    except yaml.YAMLError as exc:  # reader errors: a character YAML does not accept
        raise RecordError(f"invalid YAML/JSON: {short(str(exc))}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # 2026-02-30, a huge int
        raise RecordError(f"invalid YAML/JSON value: {short(str(exc))}") from None
    finally:
        loader.dispose()


_EXCERPT = reprlib.Repr()
_EXCERPT.maxstring = EXCERPT_CHARS
_EXCERPT.maxother = EXCERPT_CHARS
_EXCERPT.maxlevel = 2
_EXCERPT.maxlist = _EXCERPT.maxdict = _EXCERPT.maxtuple = _EXCERPT.maxset = 3


def _location(location: Sequence[str | int]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = short(str(part), EXCERPT_CHARS)
            text += f".{name}" if text else name
    return text or "(top level)"


def describe_record_errors(error: ValidationError) -> list[str]:
    """One ``key: message (got excerpt)`` per error. Unlike ``validation.describe_errors``
    the excerpt is computed with bounded effort (reprlib), whatever the input's size."""
    items = error.errors(include_url=False)
    lines = []
    for item in items[:MAX_ERRORS]:
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] != "missing" and "input" in item:
            message += f" (got {_EXCERPT.repr(item['input'])})"
        lines.append(f"{_location(item['loc'])}: {short(message, 200)}")
    if len(items) > MAX_ERRORS:
        lines.append(f"and {len(items) - MAX_ERRORS} more error(s)")
    return lines


def record_from_text(text: str) -> DrillRecord:
    """Parse and validate one record's text; raise RecordError with the reason (keys and
    short excerpts, never the text itself)."""
    raw = load_yaml(text)
    if not isinstance(raw, dict):
        raise RecordError("expected a mapping")
    try:
        return DrillRecord.model_validate(raw)
    except ValidationError as exc:
        raise RecordError("; ".join(describe_record_errors(exc))) from None
    except (ValueError, TypeError, RecursionError) as exc:  # never expected: fail closed
        raise RecordError(f"invalid record ({type(exc).__name__})") from None


def _judged_or_none(text: str | None) -> DrillRecord | None:
    """The record a text holds, with only the fields the check judges, or None."""
    if text is None:
        return None
    try:
        record = record_from_text(text)
    except RecordError:
        return None
    return record.model_copy(update={"evidence": [], "performed_by": None, "notes": None})


def deleted_records(history: GitHistory) -> list[dict[str, Any]]:
    """Records deleted, or rewritten (a judged field changed), in any commit. Rename
    detection is off: a record moved and edited into a new one is a deletion."""
    pathspec = history.prefix.rstrip("/") or "."
    log = run_git(
        history.top,
        "--literal-pathspecs",
        "log",
        "--no-color",
        "--no-renames",
        "--diff-filter=DM",
        "--name-status",
        "-z",
        "--format=%x01%H %cI",
        "--",
        pathspec,
    )
    changed: list[tuple[str, str, bytes, bool]] = []  # commit, when, path, rewritten?
    suffixes = tuple(s.encode() for s in RECORD_SUFFIXES)
    for entry in log.split(b"\x01")[1:]:
        header, _, files = entry.partition(b"\x00")
        commit, when = header.decode().split(" ", 1)
        fields = files.lstrip(b"\n").split(b"\x00")
        for status, name in zip(fields[0::2], fields[1::2], strict=False):
            if name.endswith(suffixes) and status in (b"D", b"M"):
                changed.append((commit, when, name, status == b"M"))
    before = history.read_blobs(
        [f"{c}^:".encode() + name for c, _, name, _ in changed], MAX_RECORD_BYTES
    )
    after = history.read_blobs(
        [f"{c}:".encode() + name if rewritten else b"\n" for c, _, name, rewritten in changed],
        MAX_RECORD_BYTES,
    )
    deletions = []
    for (commit, when, name, rewritten), old, new in zip(changed, before, after, strict=True):
        record = _judged_or_none(old)
        if rewritten and record is not None and record == _judged_or_none(new):
            continue  # notes, links or who performed it changed: the run is the same
        path = name.decode("utf-8", "replace")
        within = path[len(history.prefix) :] if path.startswith(history.prefix) else path
        deletions.append(
            {
                "path": path,
                "within": within,
                "commit": commit,
                "deleted_at": when,
                "change": "rewritten" if rewritten else "deleted",
                "drill": record.drill if record else None,
                "record_date": record.date.isoformat() if record else None,
            }
        )
    return deletions
