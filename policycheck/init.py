"""`policycheck init`: the files an adopter needs, written once and valid from the start: a
policy.yaml to edit, controls/ with one control mapped to a framework, and the drill
evidence directory with one example record. Templates in policycheck/starter/."""

import datetime
from dataclasses import dataclass
from pathlib import Path

from policycheck.errors import InputError
from policycheck.paths import CONTROLS_DIRNAME, POLICY_FILENAME

STARTER = Path(__file__).resolve().parent / "starter"
EVIDENCE_DIRNAME = "dr-evidence"
EXAMPLE_CONTROL = "BK.01.yaml"
EXAMPLE_DRILL = "restore-drill"


@dataclass(frozen=True)
class Starter:
    """The files init writes, by path relative to the directory, and their text."""

    files: dict[str, str]


def starter(region: str, today: datetime.date) -> Starter:
    """The starter files for ``region``, the drill record dated ``today``."""
    policy = (STARTER / "policy.yaml").read_text(encoding="utf-8").format(region=region)
    record = (STARTER / "drill-record.yaml").read_text(encoding="utf-8")
    return Starter(
        {
            POLICY_FILENAME: policy,
            f"{CONTROLS_DIRNAME}/{EXAMPLE_CONTROL}": (STARTER / EXAMPLE_CONTROL).read_text(
                encoding="utf-8"
            ),
            f"{EVIDENCE_DIRNAME}/{EXAMPLE_DRILL}/{today.isoformat()}-prod.yaml": record.format(
                date=today.isoformat()
            ),
        }
    )


def write_starter(directory: Path, files: Starter) -> list[Path]:
    """Write the files under ``directory``; InputError, before writing any, when one of
    them, or the controls or evidence directory, is there already (nothing is replaced)."""
    existing = [
        directory / name
        for name in (POLICY_FILENAME, CONTROLS_DIRNAME, EVIDENCE_DIRNAME)
        if (directory / name).exists()
    ]
    if existing:
        raise InputError(f"{existing[0]}: exists; init writes only into a directory without it")
    written = []
    for name, text in files.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
