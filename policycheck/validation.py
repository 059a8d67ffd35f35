"""Reading YAML input and turning validation failures into one clear message."""

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from policycheck.errors import InputError


class StrictModel(BaseModel):
    """Input models reject unknown keys so that typos are reported, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, or raise InputError naming the file (and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text: {exc.reason}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}{where}: invalid YAML: {problem}") from None


def key_path(location: Sequence[str | int]) -> str:
    """``("checks", 3, "params")`` -> ``checks[3].params``."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_errors(
    path: Path, error: ValidationError, prefix: Sequence[str | int] = ()
) -> list[str]:
    """One line per pydantic error: ``file: key.path: message (got value)``."""
    lines = []
    for item in error.errors(include_url=False):
        location = [*prefix, *item["loc"]]
        message = item["msg"]
        if item["type"] not in ("missing", "extra_forbidden") and "input" in item:
            got = repr(item["input"])
            message += f" (got {got if len(got) <= 60 else got[:57] + '...'})"
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{path}: {key_path(location)}: {message}")
    return lines


def raise_if_errors(problems: list[str]) -> None:
    """Raise one InputError listing every problem, if there are any."""
    if problems:
        raise InputError("\n".join(problems))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
