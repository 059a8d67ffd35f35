"""The control catalog: one YAML file per control, mapping what is promised to the
checks that evidence it."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from policycheck.errors import InputError
from policycheck.plugin.registry import Registry, load_registry
from policycheck.policy.crosswalk import FRAMEWORKS, Framework
from policycheck.validation import (
    StrictModel,
    describe_errors,
    raise_if_errors,
    read_yaml,
    sha256_file,
)


def _known_framework(framework_id: str) -> str:
    if framework_id not in FRAMEWORKS:
        raise ValueError(f"unknown framework; known: {', '.join(FRAMEWORKS)}")
    return framework_id


def _requirement_id(framework: Framework) -> Any:
    def check(requirement: str) -> str:
        if not re.fullmatch(framework.pattern, requirement):
            raise ValueError(
                f"not a requirement id of {framework.title} (like {framework.example})"
            )
        return requirement

    return AfterValidator(check)


class FrameworkMapping(StrictModel):
    """Why the control evidences a framework's requirement, and which of its checks do:
    the requirement's status comes from their results alone."""

    checks: list[str] = Field(
        min_length=1, description="Ids of this control's checks that evidence the requirement."
    )
    why: str = Field(min_length=1, description="Why they evidence it.")


_UNKNOWN = TypeAdapter(dict[Annotated[str, AfterValidator(_known_framework)], Any])
_REQUIREMENTS = {
    framework.id: TypeAdapter(
        dict[str, dict[Annotated[str, _requirement_id(framework)], FrameworkMapping]]
    )
    for framework in FRAMEWORKS.values()
}


def _validate(crosswalk: dict[str, Any]) -> dict[str, dict[str, FrameworkMapping]]:
    """Each framework known and each requirement id of its framework's form; errors name
    the framework and the requirement (``frameworks.NIST-800-53.CP9``)."""
    _UNKNOWN.validate_python(crosswalk)
    return {
        framework_id: _REQUIREMENTS[framework_id].validate_python({framework_id: requirements})[
            framework_id
        ]
        for framework_id, requirements in crosswalk.items()
    }


def _schema() -> dict[str, Any]:
    mapping = FrameworkMapping.model_json_schema()
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            f.id: {
                "type": "object",
                "description": f"{f.title}: requirement id (like {f.example}) -> the checks "
                "that evidence it, and why",
                "propertyNames": {"pattern": f"^(?:{f.pattern})$"},
                "additionalProperties": mapping,
            }
            for f in FRAMEWORKS.values()
        },
    }


#: A control file's ``frameworks:``: framework id -> requirement id -> the checks that
#: evidence it and why.
Crosswalk = Annotated[
    dict[str, dict[str, FrameworkMapping]],
    BeforeValidator(_validate),
    WithJsonSchema(_schema()),
]


class ControlCheck(StrictModel):
    """A check that evidences the control, and the policy sentence it verifies."""

    id: str = Field(description="Check id.")
    verifies: str = Field(min_length=1, description="The policy statement, in its words.")


class ManualStatement(StrictModel):
    """A promise that cannot be verified from AWS or the repository: shown as manual."""

    statement: str = Field(min_length=1, description="The policy's words.")
    why: str = Field(min_length=1, description="Why it is not checked automatically.")


class Control(StrictModel):
    """One control of the policy."""

    id: str = Field(pattern=r"^[A-Z]+(\.\d+)+$")
    title: str = Field(min_length=1)
    objective: str = Field(min_length=1, description="The objective in the policy's words.")
    source: str = Field(min_length=1, description="Document and section it comes from.")
    checks: list[ControlCheck] = Field(default_factory=list)
    manual: list[ManualStatement] = Field(
        default_factory=list, description="Statements an auditor must verify by hand."
    )
    crosswalk: Crosswalk = Field(
        default_factory=dict,
        alias="frameworks",
        description="Requirements of external frameworks this control evidences: framework "
        "id -> requirement id -> the checks that evidence it, and why.",
    )

    @property
    def check_ids(self) -> list[str]:
        return [ref.id for ref in self.checks]

    @property
    def frameworks(self) -> dict[str, dict[str, str]]:
        """Per framework, each requirement and why the control evidences it."""
        return {
            name: {requirement: m.why for requirement, m in mapped.items()}
            for name, mapped in self.crosswalk.items()
        }

    @property
    def framework_checks(self) -> dict[str, dict[str, list[str]]]:
        """Per framework, each requirement and the checks that evidence it."""
        return {
            name: {requirement: list(m.checks) for requirement, m in mapped.items()}
            for name, mapped in self.crosswalk.items()
        }


@dataclass(frozen=True)
class Catalog:
    """Every control, in id order, with where each is written."""

    directory: Path
    controls: tuple[Control, ...]
    #: Per control id: its file, and per check id the line listing it.
    files: dict[str, Path] = field(default_factory=dict)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)

    def file_hashes(self) -> dict[str, str]:
        """SHA-256 of every control file, by path relative to the catalog's parent."""
        return {
            str(path.relative_to(self.directory.parent)): sha256_file(path)
            for path in sorted(self.files.values())
        }

    def control_ids_for(self, check_id: str) -> list[str]:
        """Ids of the controls a check evidences."""
        return [control.id for control in self.controls if check_id in control.check_ids]

    def get(self, control_id: str) -> Control | None:
        return next((c for c in self.controls if c.id == control_id), None)


def load_catalog(directory: Path, registry: Registry | None = None) -> Catalog:
    """Read and validate every ``*.yaml`` in the controls directory against the registry
    (default: the installed plugins)."""
    if not directory.is_dir():
        raise InputError(f"{directory}: controls directory not found (expected beside the policy)")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise InputError(f"{directory}: no control files (*.yaml)")
    known_checks = (registry or load_registry()).checks
    problems: list[str] = []
    controls: list[Control] = []
    for path in files:
        raw = read_yaml(path)
        if not isinstance(raw, dict):
            problems.append(f"{path}: expected a mapping at the top level")
            continue
        try:
            control = Control.model_validate(raw)
        except ValidationError as exc:
            problems.extend(describe_errors(path, exc))
            continue
        if control.id != path.stem:
            problems.append(f"{path}: id: {control.id!r} does not match the file name")
        for position, ref in enumerate(control.checks):
            if ref.id not in known_checks:
                problems.append(f"{path}: checks[{position}].id: unknown check {ref.id!r}")
        problems += [
            f"{path}: frameworks.{name}.{requirement}.checks[{position}]: {check_id!r} is "
            f"not one of this control's checks ({', '.join(control.check_ids) or 'none'})"
            for name, mapped in control.framework_checks.items()
            for requirement, check_ids in mapped.items()
            for position, check_id in enumerate(check_ids)
            if check_id not in control.check_ids
        ]
        controls.append(control)
    raise_if_errors(problems)
    by_id = {path.stem: path for path in files}
    return Catalog(
        directory=directory,
        controls=tuple(sorted(controls, key=lambda c: c.id)),
        files=by_id,
        lines={c.id: _check_lines(by_id[c.id], c.check_ids) for c in controls},
    )


def _check_lines(path: Path, check_ids: list[str]) -> dict[str, int]:
    """The line on which the control file lists each check (for SARIF locations)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = {}
    for check_id in check_ids:
        pattern = re.compile(rf"^\s*-?\s*id:\s*['\"]?{re.escape(check_id)}['\"]?\s*$")
        found[check_id] = next(
            (number for number, line in enumerate(lines, start=1) if pattern.match(line)), 1
        )
    return found
