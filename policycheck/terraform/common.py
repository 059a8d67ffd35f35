"""What the fact mappers share: the subject of a fact, one resource where the plan may
have several, and policy documents (JSON strings, or an aws_iam_policy_document)."""

import json
from dataclasses import dataclass
from typing import Any

from policycheck.terraform.state import Instance, Node, Unknowable

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
        text = source.get("json") if source else node.get(attr)
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
