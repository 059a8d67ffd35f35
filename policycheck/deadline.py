"""The run's time limits: its deadline, and how long assumed-role sessions last.

A nightly audit must end inside its CI job, with a report.

When the deadline is reached, no API call starts any more (not a retry either), facts not
yet read are errors ("deadline reached"), and the run goes on to evaluate and write its
reports. Calls in flight are abandoned: fetches run in daemon threads (see collect).
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: A nightly job's default timeout on GitHub is 6 h; the shipped workflows allow 30 min
#: per job, and a run needs a few minutes to start and to publish.
DEFAULT_DEADLINE_SECONDS = 25 * 60

#: No CI job runs longer (GitHub's hosted runners stop at 6 h; self-hosted at 5 days,
#: but a nightly audit that long is a mistake).
MAX_DEADLINE_SECONDS = 24 * 3600
#: Assumed-role sessions last this long by default (STS's default, and the cap when the
#: run's own credentials are themselves an assumed role: role chaining).
DEFAULT_ROLE_SESSION_SECONDS = 3600

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> float:
    """``90s``, ``25m``, ``1h30m``, ``2h`` -> seconds; ValueError otherwise, also for a
    bare number (``25``: minutes, as every document says, or seconds?)."""
    text = text.strip()
    match = _DURATION.fullmatch(text)
    if text.isdigit():
        raise ValueError(f"{text!r} has no unit; write {text}m or {text}s")
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration; use e.g. 90s, 25m or 1h30m")
    hours, minutes, secs = (int(group or 0) for group in match.groups())
    seconds = float(hours * 3600 + minutes * 60 + secs)
    if seconds <= 0:
        raise ValueError(f"{text!r}: a deadline must be longer than 0 s")
    if seconds > MAX_DEADLINE_SECONDS:
        raise ValueError(f"{text!r}: a deadline is at most 24h")
    return seconds


class DeadlineReached(Exception):
    """Raised instead of starting an API call (or a retry) after the deadline."""

    code = "DeadlineReached"


@dataclass(frozen=True)
class Deadline:
    """A point in time (on ``clock``, by default the monotonic clock, which forked fetch
    processes share) after which the run stops calling AWS. ``at=None``: never."""

    at: float | None = None
    #: What the deadline was set to, for messages ("25m").
    label: str = ""
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(
        cls, seconds: float | None, clock: Callable[[], float] = time.monotonic
    ) -> "Deadline":
        """The deadline ``seconds`` from now on ``clock`` (None: no deadline)."""
        if seconds is None:
            return cls(clock=clock)
        return cls(clock() + seconds, _label(seconds), clock)

    def remaining(self) -> float | None:
        """Seconds left (0 once passed); None without a deadline."""
        return None if self.at is None else max(0.0, self.at - self.clock())

    def passed(self, by: float = 0.0) -> bool:
        """Whether the deadline passed (``by`` seconds ago or more)."""
        return self.at is not None and self.clock() >= self.at + by

    @property
    def message(self) -> str:
        return f"deadline reached ({self.label}); not read"

    def check(self, **_: Any) -> None:
        """Raise DeadlineReached once the deadline has passed (a botocore ``before-send``
        handler: no attempt starts after it)."""
        if self.passed():
            raise DeadlineReached(self.message)

    def _no_retry(self, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        """A ``needs-retry`` handler: a failed attempt is not retried after the deadline
        (not even slept on); a successful one is kept."""
        failed = caught_exception is not None or (
            response is not None and response[0].status_code >= 300
        )
        if failed:
            self.check()

    def attach(self, client: Any) -> None:
        """Stop ``client`` from starting any attempt, first or retry, after the deadline."""
        if self.at is None:
            return
        client.meta.events.register_first("before-send", self.check)
        client.meta.events.register_first("needs-retry", self._no_retry)


NO_DEADLINE = Deadline()


def _label(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
