"""Recovery-testing evidence: one YAML or JSON file per drill run, committed to git.

A record says which drill ran, when, where, whether it passed, how long recovery took and
where the logs are. :class:`EvidenceStore` reads the records of a directory and, from git
history, the records that were deleted from it.
"""

import datetime as dt
import subprocess
import threading
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AnyUrl, Field, ValidationError

from policycheck.validation import StrictModel, describe_errors

RECORD_SUFFIXES = (".yaml", ".yml", ".json")


class EvidenceRecord(StrictModel):
    """One run of a DR drill."""

    drill: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Drill id.")
    date: dt.date = Field(description="Day the drill ran (YYYY-MM-DD).")
    environment: str = Field(min_length=1)
    outcome: Literal["pass", "fail"]
    time_to_recovery_minutes: float = Field(ge=0, description="Measured time to recovery.")
    evidence: list[AnyUrl] = Field(min_length=1, description="Links to workflow logs etc.")
    performed_by: str | None = None
    notes: str | None = None


class EvidenceError(Exception):
    """A record that cannot be read or does not match the format."""

    code = "InvalidEvidence"


class GitError(Exception):
    """Git history cannot be read where the evidence lives."""

    code = "GitHistoryUnavailable"


class EvidenceStore:
    """Reads the records of one evidence directory (once) and its git history (once)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._records: list[tuple[Path, EvidenceRecord]] | None = None
        self._problems: list[tuple[Path, str]] = []
        self._deletions: list[dict[str, Any]] | None = None

    def _load(self) -> list[tuple[Path, EvidenceRecord]]:
        with self._lock:
            if self._records is None:
                self._records = []
                files = (
                    sorted(p for p in self.directory.rglob("*") if p.suffix in RECORD_SUFFIXES)
                    if self.directory.is_dir()
                    else []
                )
                for path in files:
                    try:
                        self._records.append((path, parse_record(path, path.read_text())))
                    except EvidenceError as exc:
                        self._problems.append((path, str(exc)))
            return self._records

    def records_for(self, drill: str) -> list[dict[str, Any]]:
        """The drill's records, oldest first. Raises EvidenceError if a file that may
        belong to the drill is unreadable (fail closed)."""
        records = self._load()
        broken = [
            message
            for path, message in self._problems
            if belongs_to(str(path.relative_to(self.directory)), drill)
        ]
        if broken:
            raise EvidenceError("; ".join(broken))
        return sorted(
            (
                {**record.model_dump(mode="json"), "path": self._relative(path)}
                for path, record in records
                if record.drill == drill
            ),
            key=lambda r: (r["date"], r["path"]),
        )

    def deletions_for(self, drill: str) -> list[dict[str, Any]]:
        """Records of the drill that were deleted from git history: path, deletion date,
        commit and the deleted record's drill date (None if it could not be read)."""
        with self._lock:
            if self._deletions is None:
                self._deletions = self._read_deletions()
        return [
            deletion
            for deletion in self._deletions
            if deletion["drill"] == drill
            or (deletion["drill"] is None and belongs_to(deletion["within"], drill))
        ]

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self._git_root()))
        except (GitError, ValueError):
            return str(path)

    def _git(self, *args: str) -> str:
        cwd = self.directory
        while not cwd.is_dir():
            cwd = cwd.parent
        try:
            completed = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"git {args[0]}: {exc}") from None
        if completed.returncode != 0:
            raise GitError(f"git {args[0]} in {cwd}: {completed.stderr.strip()}")
        return completed.stdout

    def _git_root(self) -> Path:
        return Path(self._git("rev-parse", "--show-toplevel").strip())

    def _read_deletions(self) -> list[dict[str, Any]]:
        root = self._git_root()
        relative = self.directory.resolve().relative_to(root.resolve())
        log = self._git(
            "-C",
            str(root),
            "log",
            "--diff-filter=D",
            "--name-only",
            "--format=%x00%H %cI",
            "--",
            str(relative),
        )
        deletions = []
        for entry in log.split("\x00")[1:]:
            header, *paths = [line for line in entry.splitlines() if line.strip()]
            commit, deleted_at = header.split(" ", 1)
            for path in paths:
                if not path.endswith(RECORD_SUFFIXES):
                    continue
                try:
                    record = parse_record(
                        Path(path), self._git("-C", str(root), "show", f"{commit}^:{path}")
                    )
                    drill, record_date = record.drill, record.date.isoformat()
                except (EvidenceError, GitError):
                    drill, record_date = None, None
                deletions.append(
                    {
                        "path": path,
                        "within": str(Path(path).relative_to(relative)),
                        "commit": commit,
                        "deleted_at": deleted_at,
                        "drill": drill,
                        "record_date": record_date,
                    }
                )
        return deletions


def belongs_to(relative_path: str, drill: str) -> bool:
    """Whether an unreadable record may be the drill's. Records are kept as
    ``<drill-id>/<file>``; one outside such a folder counts for every drill (fail closed)."""
    parts = Path(relative_path).parts
    return len(parts) == 1 or parts[0] == drill


def parse_record(path: Path, text: str) -> EvidenceRecord:
    """Parse and validate one record; raise EvidenceError naming the file and key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EvidenceError(f"{path}: invalid YAML/JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise EvidenceError(f"{path}: expected a mapping")
    try:
        return EvidenceRecord.model_validate(raw)
    except ValidationError as exc:
        raise EvidenceError("; ".join(describe_errors(path, exc))) from None
