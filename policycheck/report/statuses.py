"""How each status reads in the views people read: a label, a symbol and a letter that
carry the status without colour (greyscale print, colour-blind readers), and the tone the
HTML report colours and patterns it by. One line per status."""

from dataclasses import dataclass


@dataclass(frozen=True)
class StatusLook:
    label: str
    #: Shown beside the label in the HTML report.
    symbol: str
    #: One character per day in text timelines (ASCII, for any terminal or font).
    letter: str
    #: CSS class suffix: the colour and pattern (see policycheck/render/html.py).
    tone: str


#: Every control status, and ``no_report`` (a day of a history without a report).
STATUS_LOOKS: dict[str, StatusLook] = {
    "pass": StatusLook("PASS", "✓", "+", "good"),
    "fail": StatusLook("FAIL", "✗", "X", "bad"),
    "error": StatusLook("ERROR", "!", "E", "warn"),
    "waived": StatusLook("WAIVED", "≈", "W", "waived"),
    "manual": StatusLook("MANUAL", "✎", "M", "info"),
    "not_assessed": StatusLook("NOT ASSESSED", "?", "?", "gap"),
    "not_applicable": StatusLook("N/A", "⊘", "-", "none"),
    "not_selected": StatusLook("NOT SELECTED", "○", "_", "none"),
    "not_in_plan": StatusLook("NOT IN PLAN", "◌", "p", "none"),
    "no_report": StatusLook("NO REPORT", "·", ".", "empty"),
}
STATUS_LABEL = {status: look.label for status, look in STATUS_LOOKS.items()}
