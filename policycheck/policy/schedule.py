"""How often a DR drill must pass, and when it is due again: calendar months, clamped to
the end of shorter months. Used by the drill check and by the `drills` table."""

import calendar
from datetime import date
from typing import Literal

Frequency = Literal["monthly", "quarterly", "semiannually", "annually"]
MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "semiannually": 6, "annually": 12}


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the end of shorter months."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_due(last_passed: date, frequency: str) -> date:
    """When a drill that last passed on ``last_passed`` must pass again."""
    return add_months(last_passed, MONTHS[frequency])
