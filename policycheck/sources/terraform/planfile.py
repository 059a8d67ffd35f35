"""Reading a plan file: ``terraform show -json PLANFILE`` output, format versions 0.1 to 1.x.

Terraform 0.12 to 0.14 write format 0.1, 0.15 and 1.0 write 0.2, 1.1 and later 1.x; the
versions HashiCorp's own reader (terraform-json) accepts, ``>= 0.1, < 2.0``, are read. How
the older formats differ, and how each difference is read:

- 0.1 has no ``after_sensitive``, ``before_sensitive`` nor ``sensitive_values`` (added in
  0.2): nothing is marked sensitive, so values are read as written.
- 0.1 and 0.2 often write a nested block the configuration does not set only in
  ``after_unknown`` (``"versioning": true``), not in ``after``: it reads as known only after
  apply and not configured, which the fact readers take as AWS's default (see
  ``state.Node.defaulted``), never as a pass of what is unknown.
- 0.12 names the provider ``aws`` (``provider_name``), later ones its full address; only
  the configuration's ``provider_config`` keys are read, which both write alike.
- ``timestamp``, ``errored``, ``relevant_attributes``, ``checks`` and ``action_reason`` came
  with 1.x; each is read only when present.

Bad input (unreadable, not JSON, a state instead of a plan, a format version outside
0.1 to 1.x, an errored or empty plan, a malformed entry) is an InputError of one line naming
the file and, where it applies, the key."""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policycheck.errors import InputError
from policycheck.report.jsonstream import refuse_constant

#: The format versions read: 0.1 <= version < 2.0 (within a major version, later minor
#: versions only add properties).
OLDEST_FORMAT = (0, 1)
NEXT_MAJOR = 2
SUPPORTED_FORMATS = "0.1, 0.2 and 1.x (Terraform 0.12 and later)"
#: The actions a plan's resource change may list (replacements list delete and create).
ACTIONS = ("no-op", "create", "read", "update", "delete", "forget")
#: Keys of ``terraform show -json`` output (a plan or a state): a JSON file in a plans
#: directory with none of them is something else, skipped.
TERRAFORM_KEYS = frozenset(
    {"format_version", "terraform_version", "planned_values", "resource_changes", "values"}
)
HOW_TO = "terraform plan -out tfplan && terraform show -json tfplan > plan.json"


@dataclass(frozen=True)
class PlanFile:
    """One validated plan file."""

    path: Path
    sha256: str
    terraform_version: str
    format_version: str
    document: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def timestamp(self) -> str | None:
        """When the plan was made (Terraform 1.5 and later say it)."""
        value = self.document.get("timestamp")
        return value if isinstance(value, str) else None


def read_plans(paths: list[Path]) -> list[PlanFile]:
    """The plans given: files, and directories standing for every plan (``*.json``,
    sorted) in them; a file given twice (the same SHA-256) counts once. InputError for a
    file that is not a usable plan, or a directory without one."""
    found: dict[str, PlanFile] = {}
    for path in paths:
        plans = _directory_plans(path) if path.is_dir() else [read_plan(path)]
        for plan_file in plans:
            found.setdefault(plan_file.sha256, plan_file)
    return list(found.values())


def _directory_plans(directory: Path) -> list[PlanFile]:
    """The plans among a directory's JSON files; other JSON (a report) is skipped, a
    file that looks like Terraform output but is not a usable plan is InputError."""
    plans = []
    for path in sorted(p for p in directory.glob("*.json") if p.is_file()):
        raw, document = _load(path)
        if isinstance(document, dict) and not TERRAFORM_KEYS & document.keys():
            continue
        plans.append(_validated(path, raw, document))
    if not plans:
        raise InputError(f"{directory}: no Terraform plan (*.json) in the directory; run {HOW_TO}")
    return plans


def read_plan(path: Path) -> PlanFile:
    """The plan file, validated; InputError (one line) when it is not a usable plan."""
    return _validated(path, *_load(path))


def _load(path: Path) -> tuple[bytes, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return raw, json.loads(raw, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}); expected the output "
            f"of {HOW_TO}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not JSON (not UTF-8); expected the output of {HOW_TO}") from None
    except ValueError as exc:  # Infinity, NaN: Python reads them, JSON has no such number
        raise InputError(f"{path}: {exc}") from None


def _validated(path: Path, raw: bytes, document: Any) -> PlanFile:
    _check_document(path, document)
    return PlanFile(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        terraform_version=str(document.get("terraform_version") or "unknown"),
        format_version=str(document["format_version"]),
        document=document,
    )


def _check_document(path: Path, document: Any) -> None:
    if not isinstance(document, dict):
        raise InputError(f"{path}: not a Terraform plan: expected a JSON object; run {HOW_TO}")
    is_plan = "planned_values" in document or "resource_changes" in document
    if not is_plan and "values" in document:
        raise InputError(
            f"{path}: a Terraform state (terraform show -json of a state), not a plan: it "
            f"says what exists, not what an apply would change; run {HOW_TO}"
        )
    version = document.get("format_version")
    if not isinstance(version, str) or not version:
        raise InputError(f"{path}: not a Terraform plan: no format_version; run {HOW_TO}")
    if not _supported(version):
        raise InputError(
            f"{path}: format_version {version!r} is not supported (policycheck reads "
            f"{SUPPORTED_FORMATS})"
        )
    if not is_plan:
        raise InputError(
            f"{path}: not a Terraform plan: neither planned_values nor resource_changes; "
            f"run {HOW_TO}"
        )
    if document.get("errored") is True:
        raise InputError(f"{path}: the plan errored (Terraform could not finish planning)")
    problem = next(_problems(document), None)
    if problem:
        raise InputError(f"{path}: {problem}")
    if not any(True for _ in _resources(document)):
        raise InputError(f"{path}: an empty plan: it has no resource to judge")


def _supported(version: str) -> bool:
    """Whether a format version is within 0.1 <= version < 2.0."""
    parts = version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return False
    major, minor = int(parts[0]), int(parts[1])
    return (major, minor) >= OLDEST_FORMAT and major < NEXT_MAJOR


def _problems(document: dict[str, Any]) -> Iterator[str]:
    """Where the document departs from the plan format's shape (first problems first)."""
    changes = document.get("resource_changes", [])
    if not isinstance(changes, list):
        yield "resource_changes: expected a list"
        return
    for index, change in enumerate(changes):
        where = f"resource_changes[{index}]"
        if not isinstance(change, dict):
            yield f"{where}: expected an object"
            continue
        for key in ("address", "type", "name"):
            if not isinstance(change.get(key), str):
                yield f"{where}.{key}: expected a string"
        detail = change.get("change")
        if not isinstance(detail, dict):
            yield f"{where}.change: expected an object"
            continue
        actions = detail.get("actions")
        if (
            not isinstance(actions, list)
            or not actions
            or not all(isinstance(a, str) for a in actions)
        ):
            yield f"{where}.change.actions: expected a list of actions"
        elif unknown := [a for a in actions if a not in ACTIONS]:
            yield (
                f"{where}.change.actions: unknown action {unknown[0]!r} (Terraform plans "
                f"{', '.join(ACTIONS)})"
            )
    for key in ("planned_values", "prior_state", "configuration"):
        if key in document and not isinstance(document[key], dict):
            yield f"{key}: expected an object"
    for where, module in _modules(document.get("planned_values") or {}, "planned_values"):
        for index, resource in enumerate(module.get("resources") or []):
            if not isinstance(resource, dict) or not isinstance(resource.get("address"), str):
                yield f"{where}.resources[{index}]: expected a resource with an address"


def _modules(values: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every module of a values representation (root and child modules at any depth)."""
    root = values.get("root_module")
    pending = [(f"{where}.root_module", root)] if isinstance(root, dict) else []
    while pending:
        path, module = pending.pop()
        yield path, module
        children = module.get("child_modules") or []
        pending += [
            (f"{path}.child_modules[{i}]", child)
            for i, child in enumerate(children)
            if isinstance(child, dict)
        ]


def modules(values: Any) -> Iterator[dict[str, Any]]:
    """Every module of a values representation (``planned_values``, ``prior_state.values``)."""
    if isinstance(values, dict):
        for _, module in _modules(values, ""):
            yield module


def _resources(document: dict[str, Any]) -> Iterator[Any]:
    yield from document.get("resource_changes") or []
    for module in modules(document.get("planned_values")):
        yield from module.get("resources") or []
