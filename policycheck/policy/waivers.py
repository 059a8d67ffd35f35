"""Waivers: accepted exceptions with an owner, a ticket and an expiry date.

A waiver names one check, one environment and either an exact resource (name or ARN) or,
written explicitly, a resource glob. A failing result it matches becomes ``waived`` until
the waiver expires; then the result fails again and says so. A waiver that matches no
failure is stale; one that expires within 14 days is flagged.
"""

from datetime import date, timedelta
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import Field, model_validator

from policycheck.report.model import Result, WaiverInfo, WaiverReport
from policycheck.validation import StrictModel

EXPIRY_WARNING_DAYS = 14
MAX_WAIVER_DAYS = 366


class Waiver(StrictModel):
    """An accepted failure, as written in the policy file."""

    check: str = Field(description="Check id.")
    environment: str
    resource: str | None = Field(None, description="Exact resource name or ARN.")
    resource_glob: str | None = Field(
        None, description="A glob over resource names, only when written explicitly."
    )
    justification: str = Field(min_length=10)
    owner: str = Field(min_length=1)
    ticket: str = Field(min_length=1)
    expires: date = Field(description="Last day the waiver applies (at most a year ahead).")
    scope: Literal["all"] | None = Field(
        None,
        description="`all` acknowledges a waiver that switches a check off: its glob matches "
        "every resource the check covers in the environment, or (with others) it waives a "
        "critical check in every environment. Without it, validate refuses such a waiver.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> "Waiver":
        if (self.resource is None) == (self.resource_glob is None):
            raise ValueError("give exactly one of `resource` and `resource_glob`")
        return self

    def covers(self, name: str) -> bool:
        """Whether the waiver applies to every resource ``name`` stands for (a name
        pattern discovered at run time stands for any name it matches)."""
        if self.resource is not None:
            return self.resource == name
        return all(fnmatchcase(example, self.resource_glob or "") for example in _examples(name))

    def matches(self, result: Result) -> bool:
        if result.check_id != self.check or result.environment != self.environment:
            return False
        if self.resource is not None:
            return self.resource in (result.resource.name, result.resource.arn)
        return fnmatchcase(result.resource.name, self.resource_glob or "")

    @property
    def target(self) -> str:
        return self.resource or f"glob {self.resource_glob}"

    def info(self, expired: bool) -> WaiverInfo:
        return WaiverInfo(
            check=self.check,
            environment=self.environment,
            resource=self.target,
            justification=self.justification,
            owner=self.owner,
            ticket=self.ticket,
            expires=self.expires.isoformat(),
            expired=expired,
        )


#: What a run-time pattern's wildcards are tried with, to tell whether a glob covers it.
_FILLERS = ("", "a", "Z9", "-x-", "long.segment_of/text")


def _examples(name: str) -> list[str]:
    """``name`` itself, or for a pattern, names it matches built from varied fillers."""
    if "*" not in name and "?" not in name:
        return [name]
    return [name.replace("*", filler).replace("?", (filler or "q")[0]) for filler in _FILLERS]


def waiver_state(
    waiver: Waiver, today: date, matched: int
) -> Literal["active", "expiring", "expired", "stale"]:
    """What a waiver amounts to on ``today`` given how many failures it matched."""
    if waiver.expires < today:
        return "expired"
    if matched == 0:
        return "stale"
    if waiver.expires <= today + timedelta(days=EXPIRY_WARNING_DAYS):
        return "expiring"
    return "active"


def apply_waivers(
    results: list[Result], waivers: list[Waiver], today: date
) -> tuple[list[Result], list[WaiverReport]]:
    """Results with waived failures marked, and the state of every waiver."""
    ledger = WaiverLedger(waivers, today)
    updated = [ledger.apply(result) for result in results]
    return updated, ledger.reports()


class WaiverLedger:
    """Waivers applied to results one at a time, counting what each matched."""

    def __init__(self, waivers: list[Waiver], today: date) -> None:
        self.waivers = waivers
        self.today = today
        self.matched = [0] * len(waivers)

    def apply(self, result: Result) -> Result:
        """The result, a failure a waiver matches marked waived (or its waiver expired)."""
        if result.status != "fail":
            return result
        index = next((i for i, w in enumerate(self.waivers) if w.matches(result)), None)
        if index is None:
            return result
        self.matched[index] += 1
        waiver = self.waivers[index]
        if waiver.expires < self.today:
            return result.model_copy(
                update={
                    "waiver": waiver.info(expired=True),
                    "message": f"{result.message} (waiver {waiver.ticket} expired on "
                    f"{waiver.expires})",
                }
            )
        return result.model_copy(update={"status": "waived", "waiver": waiver.info(expired=False)})

    def reports(self) -> list[WaiverReport]:
        """Every waiver with its state and what it matched and waived."""
        today = self.today
        return [
            WaiverReport(
                **w.info(expired=w.expires < today).model_dump(),
                state=waiver_state(w, today, self.matched[i]),
                matched=self.matched[i],
                waived=0 if w.expires < today else self.matched[i],
            )
            for i, w in enumerate(self.waivers)
        ]


def lint_waivers(waivers: list[Waiver], today: date) -> list[str]:
    """Warnings for waivers that are expired or about to expire (validate prints them)."""
    warnings = []
    for index, waiver in enumerate(waivers):
        where = f"waivers[{index}] ({waiver.check} on {waiver.target}, {waiver.ticket})"
        if waiver.expires < today:
            warnings.append(f"{where}: expired on {waiver.expires}; it no longer applies")
        elif waiver.expires <= today + timedelta(days=EXPIRY_WARNING_DAYS):
            warnings.append(
                f"{where}: expires on {waiver.expires}, within {EXPIRY_WARNING_DAYS} days"
            )
    return warnings
