"""JSON Schemas of the report, the policy file and the control files, generated from the
pydantic models (so they cannot drift) and committed under policycheck/schemas/."""

import json
from pathlib import Path
from typing import Any, Literal

from policycheck.plugin.registry import Registry, load_registry
from policycheck.policy.controls import Control
from policycheck.policy.document import PolicyDocument
from policycheck.report.model import Report
from policycheck.sources.repository.records import DrillRecord

SchemaKind = Literal["report", "policy", "control", "evidence"]
KINDS: tuple[SchemaKind, ...] = ("report", "policy", "control", "evidence")
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _policy_schema(registry: Registry) -> dict[str, Any]:
    """The policy schema, with the resource types and each check's parameters spelled
    out per check id."""
    schema = PolicyDocument.model_json_schema()
    checks = registry.checks
    schema["$defs"]["ResourceGroup"]["properties"]["type"]["enum"] = list(registry.resource_types)
    binding = schema["$defs"]["CheckBinding"]
    binding["properties"]["check"]["enum"] = sorted(checks)
    binding["allOf"] = [
        {
            "if": {"properties": {"check": {"const": check_id}}},
            "then": {"properties": {"params": _inline(spec.params_model.model_json_schema())}},
        }
        for check_id, spec in sorted(checks.items())
    ]
    return schema


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    if "$defs" in schema:
        raise ValueError("check parameter models must not nest models")
    return schema


def build_schema(kind: SchemaKind, registry: Registry | None = None) -> dict[str, Any]:
    """The JSON Schema for ``kind`` (the policy's from the registry's checks and types)."""
    if kind == "report":
        schema = Report.model_json_schema(by_alias=True)
    elif kind == "policy":
        schema = _policy_schema(registry or load_registry())
    elif kind == "evidence":
        schema = DrillRecord.model_json_schema()
    else:
        schema = Control.model_json_schema()
    return {"$schema": DIALECT, "$id": f"policycheck/{kind}.schema.json", **schema}


def schema_path(kind: SchemaKind) -> Path:
    return SCHEMA_DIR / f"{kind}.schema.json"


def write_schemas() -> None:
    """Regenerate the committed schema files (``make schemas``)."""
    for kind in KINDS:
        schema_path(kind).write_text(json.dumps(build_schema(kind), indent=2) + "\n")


if __name__ == "__main__":
    write_schemas()
