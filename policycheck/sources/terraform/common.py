"""What the fact mappers share: the subject of a fact, one resource where the plan may
have several, and policy documents (JSON strings, or an aws_iam_policy_document)."""

import json
from dataclasses import dataclass
from typing import Any

from policycheck.sources.terraform.state import (
    UNKNOWN,
    UNKNOWN_UNTIL_APPLY,
    Instance,
    Node,
    Unknowable,
)

POLICY_DOCUMENT = "aws_iam_policy_document"


@dataclass(frozen=True)
class Subject:
    """What a fact is about: a resource (its plan instance), its parent (an ECS
    service's cluster), or the account and region."""

    name: str
    parent: str
    account_id: str
    region: str
    #: The resource's instance after (or before) the apply; None for parent and account
    #: facts.
    resource: Instance | None = None

    @property
    def instance(self) -> Instance:
        if self.resource is None:
            raise Unknowable("NotInPlan", f"{self.name} is not in the plan")
        return self.resource


def one(instances: list[Instance], what: str) -> Instance | None:
    """The only instance, None for none; Unknowable when several configure the same thing
    (two files or blocks: which one wins cannot be told from the plan)."""
    if len(instances) > 1:
        addresses = ", ".join(f"{i.address} in {i.file}" for i in instances)
        raise Unknowable("Ambiguous", f"{what} is configured more than once: {addresses}")
    return instances[0] if instances else None


def policy_document(node: Node, attr: str = "policy") -> dict[str, Any] | None:
    """A policy argument as a document: its JSON string, or when that is known only after
    apply, the ``json`` of the aws_iam_policy_document data source it refers to, if the
    plan read it; None when the argument is empty."""
    if node.unknown(attr):
        source = node.resolve(attr, to=POLICY_DOCUMENT)
        if source is None:
            text = node.get(attr)
        elif source.node.unknown("json"):
            return document_of_statements(source)
        else:
            text = source.get("json")
    else:
        text = node.get(attr)
    if not text:
        return None
    try:
        document = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise Unknowable(
            "MalformedPolicy", f"{node.instance.address}: {attr} is not a JSON policy document"
        ) from None
    if not isinstance(document, dict):
        raise Unknowable(
            "MalformedPolicy", f"{node.instance.address}: {attr} is not a JSON policy document"
        )
    return document


#: Arguments of aws_iam_policy_document that merge other documents in: with any set, its
#: statements alone are not the document.
MERGED_DOCUMENTS = (
    "source_json",
    "override_json",
    "source_policy_documents",
    "override_policy_documents",
)
#: A statement block's lists, and the keys of the policy document they become.
STATEMENT_LISTS = {
    "actions": "Action",
    "not_actions": "NotAction",
    "resources": "Resource",
    "not_resources": "NotResource",
}


def document_of_statements(source: Instance) -> dict[str, Any]:
    """The document an aws_iam_policy_document will render, from its ``statement``
    arguments: Terraform defers reading it while a resource it refers to has changes
    (``read_because_dependency_pending``), so its ``json`` is unknown while the arguments
    are known. Unknowable when a value it needs is unknown, or it merges other documents."""
    node = source.node
    if not isinstance(node.get("statement"), list):
        raise source.unknowable(("json",), UNKNOWN)  # and no statement arguments known
    merged = [attr for attr in MERGED_DOCUMENTS if node.get(attr)]
    if merged:
        raise Unknowable(
            UNKNOWN_UNTIL_APPLY,
            f"{source.address}: json is known only after apply and it merges {merged[0]}",
        )
    statements = []
    for block in node.blocks("statement"):
        statement: dict[str, Any] = {"Effect": block.get("effect") or "Allow"}
        if block.get("sid"):
            statement["Sid"] = block.get("sid")
        for attr, key in STATEMENT_LISTS.items():
            if block.get(attr):
                statement[key] = sorted(block.get(attr))
        for attr, key in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            principals = _principals(block.blocks(attr))
            if principals is not None:
                statement[key] = principals
        conditions: dict[str, dict[str, list[str]]] = {}
        for condition in block.blocks("condition"):
            test = conditions.setdefault(condition.get("test"), {})
            test[condition.get("variable")] = list(condition.get("values") or [])
        if conditions:
            statement["Condition"] = conditions
        statements.append(statement)
    return {"Version": node.get("version") or "2012-10-17", "Statement": statements}


def _principals(blocks: list[Node]) -> Any:
    """``principals`` blocks as a statement's Principal: ``*`` for everyone."""
    if not blocks:
        return None
    found: dict[str, list[str]] = {}
    for block in blocks:
        found.setdefault(block.get("type"), []).extend(block.get("identifiers") or [])
    if set(found) == {"*"}:
        return "*"
    return found
