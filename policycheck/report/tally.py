"""Counting results as they are judged, so that controls and the summary can be assessed
without the results in memory."""

from collections import Counter

from policycheck.report.model import Result

#: What a control's status and counts depend on in a result.
Kind = tuple[str, str, str, str | None]


class Tally:
    """Results counted by (check, environment, status, error code), one result of each
    kind kept as its example."""

    def __init__(self) -> None:
        self.counts: Counter[Kind] = Counter()
        self.examples: dict[Kind, Result] = {}

    def add(self, result: Result) -> None:
        kind = (
            result.check_id,
            result.environment,
            result.status,
            result.error.code if result.error else None,
        )
        self.counts[kind] += 1
        self.examples.setdefault(kind, result)

    def update(self, other: "Tally") -> None:
        self.counts.update(other.counts)
        for kind, example in other.examples.items():
            self.examples.setdefault(kind, example)

    def stand_in(self) -> list[Result]:
        """The results as report.assess_control and summarize see them: each example
        repeated as often as its kind occurs. They count and judge exactly as over the
        results themselves, which only a Result's check, environment, status and error
        code decide, and the list costs a reference (8 bytes) a result."""
        results: list[Result] = []
        for kind, n in self.counts.items():
            results += [self.examples[kind]] * n
        return results
