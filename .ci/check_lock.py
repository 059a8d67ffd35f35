"""Check the hash-pinned locks without the network (`make lint`):
requirements/action.txt, what the GitHub Action installs, and requirements/dev.txt, what
`make` installs for development and CI.

- every entry is pinned with ``==`` and carries at least one sha256 hash;
- every runtime dependency of pyproject.toml, every requirement of requirements/action.in
  and every [build-system] requirement is in both, pinned to a version its specifier
  accepts; the dev and demo extras are in dev.txt;
- nothing only the dev or demo extras need (moto, pytest, ...) is in action.txt;
- the packages both hold have the same version in both (the tests run what the action
  installs).

It does not fail because PyPI published a newer release: a lock stays valid until
pyproject.toml asks for something it does not hold. That the pins exist and their files
match the hashes is proven where they are installed (`make`, `make action-install-check`).

Usage: python .ci/check_lock.py [--root DIR]; exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # pip vendors packaging; the dev venv has it through pytest anyway
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]

HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(;(?P<marker>.*))?$"
)


@dataclass
class Pin:
    name: str
    version: str
    line: int
    marker: str | None = None
    hashes: list[str] = field(default_factory=list)


def parse_lock(text: str) -> tuple[list[Pin], list[str]]:
    """The lock's entries, and the problems found reading it."""
    pins: list[Pin] = []
    problems: list[str] = []
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            logical.append((start, buffer.strip()))
        buffer = ""
    for number, entry in logical:
        requirement, *options = re.split(r"\s+(?=--)", entry)
        if requirement.startswith("-"):
            problems.append(f"line {number}: option outside a pinned requirement: {entry[:60]}")
            continue
        match = PIN.match(requirement.strip())
        if not match:
            problems.append(f"line {number}: not pinned with ==: {requirement.strip()}")
            continue
        pin = Pin(
            canonicalize_name(match["name"]),
            match["version"],
            number,
            (match["marker"] or "").strip() or None,
        )
        for option in options:
            if HASH.fullmatch(option.strip()):
                pin.hashes.append(option.strip())
            else:
                problems.append(f"line {number}: {pin.name}: unexpected option {option.strip()}")
        if not pin.hashes:
            problems.append(f"line {number}: {pin.name}=={pin.version} has no sha256 hash")
        pins.append(pin)
    return pins, problems


def requirements_of(root: Path) -> tuple[list[Requirement], list[Requirement], set[str]]:
    """What the lock must satisfy (runtime + action.in + build-system), and the names only
    the extras need."""
    project = tomllib.loads((root / "pyproject.toml").read_text())
    runtime = [Requirement(r) for r in project["project"].get("dependencies", [])]
    needed = list(runtime)
    needed += [Requirement(r) for r in project.get("build-system", {}).get("requires", [])]
    action_in = root / "requirements" / "action.in"
    if action_in.exists():
        for raw in action_in.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                needed.append(Requirement(line))
    extras = project["project"].get("optional-dependencies", {})
    keep = {canonicalize_name(r.name) for r in needed}
    only_extras = {
        canonicalize_name(Requirement(r).name) for group in extras.values() for r in group
    } - keep
    return runtime, needed, only_extras


def check(root: Path, lock: Path, extras: tuple[str, ...] = ()) -> list[str]:
    """The problems of one lock, which must hold pyproject's runtime and build requirements
    and those of ``extras``, and (without extras) nothing only an extra needs."""
    pins, problems = parse_lock(lock.read_text())
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
    _, needed, only_extras = requirements_of(root)
    groups = tomllib.loads((root / "pyproject.toml").read_text())["project"].get(
        "optional-dependencies", {}
    )
    needed += [Requirement(r) for extra in extras for r in groups.get(extra, [])]
    for requirement in needed:
        name = canonicalize_name(requirement.name)
        entries = by_name.get(name)
        if not entries:
            problems.append(f"{requirement}: not in {lock.name} (run `make lock`)")
            continue
        for pin in entries:
            if not requirement.specifier.contains(Version(pin.version), prereleases=True):
                problems.append(
                    f"{requirement}: {lock.name} pins {pin.name}=={pin.version} "
                    f"(line {pin.line}), which it does not accept (run `make lock`)"
                )
    if not extras:
        for name in sorted(only_extras & by_name.keys()):
            problems.append(
                f"{name}: only a dev/demo extra needs it; it must not be in {lock.name}"
            )
    return [f"{lock.name}: {problem}" for problem in problems]


def agree(action: Path, dev: Path) -> list[str]:
    """Packages pinned in both locks have the same versions (make lock compiles dev.txt
    with action.txt as constraints)."""
    versions = [
        {(p.name, p.marker): p.version for p in parse_lock(lock.read_text())[0]}
        for lock in (action, dev)
    ]
    return [
        f"{name}: {action.name} pins {version}, {dev.name} {versions[1][name, marker]}"
        f" (run `make lock`)"
        for (name, marker), version in sorted(versions[0].items(), key=str)
        if versions[1].get((name, marker), version) != version
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    action = args.root / "requirements" / "action.txt"
    dev = args.root / "requirements" / "dev.txt"
    problems = check(args.root, action) + check(args.root, dev, ("dev", "demo"))
    problems += agree(action, dev)
    for problem in problems:
        print(f"requirements/{problem}", file=sys.stderr)
    if not problems:
        print(
            "requirements/action.txt, dev.txt: every pin hashed; pyproject's requirements "
            "satisfied; the same versions in both"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
