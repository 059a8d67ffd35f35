"""Reading IAM policy documents (bucket policies, role policies) as AWS evaluates them."""

from typing import Any

from policycheck.iam.wildcards import wildcard_match


def as_list(value: Any) -> list[Any]:
    """A policy element that may be a single value or a list, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's statements (``Statement`` may be one object or a list)."""
    return [dict(statement) for statement in as_list(document.get("Statement"))]


def covers_action(statement: dict[str, Any], action: str) -> bool:
    """Whether the statement applies to ``action`` (Action or NotAction, IAM wildcards,
    case-insensitive)."""
    if "NotAction" in statement:
        return not any(
            wildcard_match(p, action, case_sensitive=False) for p in as_list(statement["NotAction"])
        )
    return any(
        wildcard_match(p, action, case_sensitive=False) for p in as_list(statement.get("Action"))
    )
