"""How ``policycheck plan`` gets each fact, declared by the source modules beside their code:
a plan reader (``PlanReader``), the reason a plan cannot show the fact (``PlanGap``), or
the platform repository read as ``run`` reads it (``FromRepository``); and how a policy's
resource type appears in a plan (``PlannedType``). ``policycheck.plugin.registry`` gathers
them and refuses a fact without exactly one; :class:`PlanSources` is the one place that
says which checks a plan run judges.

The readers' arguments are ``policycheck.sources.terraform``'s plan state and subject; this
module knows nothing of Terraform."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from policycheck.plugin.check import CheckSpec


class Attachment(NamedTuple):
    """A standalone resource that carries a fact and names its target by an attribute
    (``aws_s3_bucket_versioning`` by ``bucket``): a plan judges the fact also when the
    target is managed elsewhere."""

    tf_type: str
    attribute: str


@dataclass(frozen=True)
class PlanReader:
    """The fact is read from a plan's resources: ``read(state, subject)`` returns it in the
    shape its fetch returns, or raises ``Unknowable`` when the plan cannot tell."""

    fact: str
    read: Callable[[Any, Any], Any]
    attachment: Attachment | None = None


@dataclass(frozen=True)
class PlanGap:
    """A plan cannot show the fact: checks needing it are ``not_assessed`` saying ``why``."""

    fact: str
    why: str


@dataclass(frozen=True)
class FromRepository:
    """The fact is read from the platform repository's commit by its own fetch, in a plan
    run as in ``run``: a plan does not show it and an apply does not change it."""

    fact: str


#: How a plan run gets one fact.
PlanSource = PlanReader | PlanGap | FromRepository


@dataclass(frozen=True)
class PlannedType:
    """How a policy's resource type appears in a plan: the Terraform type, the argument
    holding its name, and (for types inside another) how its parent is named from an
    instance of the plan."""

    resource_type: str
    tf_type: str
    name_attr: str
    parent: Callable[[Any], str] | None = None
    #: What a replacement destroys with the resource (its data); empty when replacing it
    #: loses nothing its new configuration does not restore.
    destroys: str = ""

    def parent_of(self, instance: Any) -> str:
        return self.parent(instance) if self.parent else ""


@dataclass(frozen=True)
class PlanSources:
    """Every fact's plan source and every planned type, by name; read-only."""

    facts: Mapping[str, PlanSource]
    types: Mapping[str, PlannedType]

    def why_not_judgeable(self, check: CheckSpec) -> str | None:
        """Why a plan cannot judge the check (a fact it needs that a plan cannot show);
        None when it can."""
        reasons = [
            source.why for name in check.facts if isinstance(source := self.facts[name], PlanGap)
        ]
        if check.resource_type not in self.types and not self.on_repository(check) and not reasons:
            reasons.append(f"a plan has no {check.resource_type}")
        return "; ".join(dict.fromkeys(reasons)) or None

    def on_repository(self, check: CheckSpec) -> bool:
        """Whether the check judges only facts of the platform repository (a plan run
        judges it on the repository, not on the plans)."""
        return bool(check.facts) and all(
            isinstance(self.facts[name], FromRepository) for name in check.facts
        )

    def judgeable(self, check: CheckSpec) -> bool:
        """Whether ``policycheck plan`` can judge the check: a plan or the platform
        repository supplies every fact it needs (the check table says so per check)."""
        return self.why_not_judgeable(check) is None
