"""What a check plugin is: its id, the facts it needs, a pydantic model of its
parameters (so a policy file is validated before anything runs), its examples, and a pure
function of facts and parameters. ``policycheck.plugin.registry`` gathers the checks into the
registry; this module knows none of them."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from policycheck.plugin.examples import NO_EXAMPLES, Examples

Severity = Literal["critical", "high", "medium", "low"]
Facts = Mapping[str, Any]


class CheckParams(BaseModel):
    """Base of every check's parameter model: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(CheckParams):
    """The check takes no parameters."""


@dataclass(frozen=True)
class Verdict:
    """A check's judgement of one resource."""

    passed: bool
    message: str
    expected: Any
    observed: Any


def judge(
    passed: bool, observed_text: str, expected_text: str, *, expected: Any, observed: Any
) -> Verdict:
    """A verdict whose message says what was observed and, on failure, what was expected."""
    message = observed_text if passed else f"{observed_text}; expected {expected_text}"
    return Verdict(passed=passed, message=message, expected=expected, observed=observed)


#: Facts passed to every check under this key: the resource's name, arn, region,
#: account_id, parent, environment and name variables (env, mcp, region).
RESOURCE = "resource"
#: The run's start time (ISO 8601), for checks that judge ages.
NOW = "now"


class ImpossibleValue(ValueError):
    """An answer no AWS resource can give (a recovery period of Infinity days): the check
    cannot judge it, and its result is an error naming the field (never a pass)."""


P = TypeVar("P", bound=CheckParams)
Evaluator = Callable[[Facts, Any], Verdict]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check."""

    id: str
    title: str
    resource_type: str
    severity: Severity
    facts: tuple[str, ...]
    remediation: str
    params_model: type[CheckParams]
    evaluate: Evaluator
    #: When it passes, in a sentence (the README's check table).
    passes: str = ""
    examples: Examples = NO_EXAMPLES

    @property
    def description(self) -> str:
        return (self.evaluate.__doc__ or self.title).strip()


def check(
    *,
    id: str,
    title: str,
    resource_type: str,
    severity: Severity,
    facts: tuple[str, ...],
    remediation: str,
    passes: str,
    examples: Examples,
    params: type[CheckParams] = NoParams,
) -> Callable[[Callable[[Facts, P], Verdict]], CheckSpec]:
    """Declare a check: a pure function of collected facts and its parameters, with when
    it passes and its examples. The module's attribute becomes the CheckSpec."""

    def declare(fn: Callable[[Facts, P], Verdict]) -> CheckSpec:
        return CheckSpec(
            id=id,
            title=title,
            resource_type=resource_type,
            severity=severity,
            facts=facts,
            remediation=remediation,
            params_model=params,
            evaluate=fn,
            passes=passes,
            examples=examples,
        )

    return declare
