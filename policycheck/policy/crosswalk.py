"""The framework crosswalk: the external frameworks a control file may map its control to
(``frameworks:``), each with the form of its requirement ids, and which of a framework's
requirements a catalog or a run evidences. (Validation: policycheck.policy.controls.)"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from policycheck.report.model import (
    JUDGED,
    RESULT_PRECEDENCE,
    ControlResult,
    ControlStatus,
    Result,
    ResultStatus,
    strongest,
)


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    #: The form of a requirement id (a regular expression matched in full).
    pattern: str
    example: str
    url: str


_NIST_FAMILIES = "AC|AT|AU|CA|CM|CP|IA|IR|MA|MP|PE|PL|PM|PS|PT|RA|SA|SC|SI|SR"
FRAMEWORKS: dict[str, Framework] = {
    f.id: f
    for f in (
        Framework(
            "NIST-800-53",
            "NIST SP 800-53 Rev. 5",
            rf"(?:{_NIST_FAMILIES})-\d{{1,2}}(?:\(\d{{1,2}}\))?",
            "CP-9, SC-28(1)",
            "https://doi.org/10.6028/NIST.SP.800-53r5",
        ),
        Framework(
            "ISO-27001",
            "ISO/IEC 27001:2022 Annex A",
            r"A\.(?:5\.(?:[1-9]|[12]\d|3[0-7])|6\.[1-8]|7\.(?:[1-9]|1[0-4])|8\.(?:[1-9]|[12]\d|3[0-4]))",
            "A.8.13",
            "https://www.iso.org/standard/27001",
        ),
        Framework(
            "SOC2",
            "SOC 2 Trust Services Criteria (AICPA, 2017)",
            r"CC[1-9]\.[1-8]|A1\.[1-3]|C1\.[12]|PI1\.[1-5]|P[1-8]\.[1-7]",
            "A1.2, CC6.1",
            "https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022",
        ),
        Framework(
            "CIS-AWS",
            "CIS Amazon Web Services Foundations Benchmark v5.0.0",
            r"[1-9]\d?(?:\.[1-9]\d?){1,2}",
            "2.1.4",
            "https://www.cisecurity.org/benchmark/amazon_web_services",
        ),
    )
}


class Mapped(Protocol):
    """A control or a control's result: anything with an id and a crosswalk."""

    @property
    def id(self) -> str: ...

    @property
    def frameworks(self) -> Mapping[str, Mapping[str, str]]: ...

    @property
    def framework_checks(self) -> Mapping[str, Mapping[str, Sequence[str]]]: ...


@dataclass(frozen=True)
class RequirementLink:
    """One control evidencing one requirement of a framework, why, and by which of its
    checks (none: a report of an older version, where the control's status stands).
    (Not report.Evidence, the facts a result was judged from.)"""

    requirement: str
    control_id: str
    reason: str
    checks: tuple[str, ...] = ()


def requirement_order(requirement: str) -> list[tuple[int, int | str]]:
    """Sorts CP-9 before CP-10 and A.8.9 before A.8.13."""
    return [
        (0, int(part)) if part.isdigit() else (1, part)
        for part in re.findall(r"\d+|\D+", requirement)
    ]


def evidence_for(framework_id: str, controls: Iterable[Mapped]) -> list[RequirementLink]:
    """Every (requirement, control) pair of a framework, by requirement then control."""
    pairs = [
        RequirementLink(
            requirement,
            control.id,
            reason,
            tuple(control.framework_checks.get(framework_id, {}).get(requirement, ())),
        )
        for control in controls
        for requirement, reason in control.frameworks.get(framework_id, {}).items()
    ]
    return sorted(pairs, key=lambda e: (requirement_order(e.requirement), e.control_id))


class CheckStatuses:
    """Each check's status in each environment, from the results (read once): what a
    framework requirement's status is made of."""

    def __init__(self, results: Iterable[Result]) -> None:
        seen: dict[tuple[str, str], set[ResultStatus]] = {}
        for result in results:
            seen.setdefault((result.check_id, result.environment), set()).add(result.status)
        self._statuses = {
            key: next(s for s in RESULT_PRECEDENCE if s in statuses)
            for key, statuses in seen.items()
        }

    def requirement_status(self, link: RequirementLink, control: ControlResult) -> ControlStatus:
        """The status of the requirement as ``link``'s checks show it: in each of the
        control's environments, their results' status; without one, the control's status
        there if it judged nothing (not applicable, not selected, ...), else not assessed
        (the control's other checks judged, these did not). A report of an older version
        names no checks: the control's status."""
        if not link.checks:
            if not control.environments:
                return control.status
            return strongest(there.status for there in control.environments.values())
        statuses: list[ControlStatus] = []
        for environment, there in control.environments.items():
            found = [
                self._statuses[(check, environment)]
                for check in link.checks
                if (check, environment) in self._statuses
            ]
            if found:
                statuses.append(next(s for s in RESULT_PRECEDENCE if s in found))
            else:
                statuses.append("not_assessed" if there.status in JUDGED else there.status)
        return strongest(statuses) if statuses else control.status
