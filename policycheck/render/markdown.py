"""Markdown text: a value escaped so that it shows as itself, a code span nothing in it
closes, a GitHub table; and the Style the Markdown views set the shared lines in."""

import re
from typing import Any

from tabulate import tabulate

from policycheck.render.characters import visible
from policycheck.render.view import Style


def table(rows: list[list[Any]], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github")


#: What GitHub-flavoured Markdown reads as markup within a line: raw HTML (<), entities
#: (&), links and images ([ ] !), autolinks (the : of ://, the . of www.), code spans (`),
#: emphasis (* _ ~), table cells (|), headings (#) and escapes (\).
_INLINE_MARKUP = re.compile(r"[\\`*_\[\]<>&|~!#]|:(?=//)|(?<=www)\.")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def cell(value: object) -> str:
    """A value from AWS, the policy, a waiver or a report as Markdown text, in a table cell
    or a line: every markup character backslash-escaped (it shows as itself), line breaks
    as spaces, control characters (ANSI escapes) visible."""
    flat = _LINE_BREAKS.sub(" ", visible(str(value)))
    return _INLINE_MARKUP.sub(lambda found: "\\" + found.group(), flat)


def code(value: object) -> str:
    """A value as a code span nothing in it closes: fenced with one backtick more than
    its longest run of them; pipes escaped (GFM splits table cells on them even inside a
    code span), line breaks as spaces, control characters visible."""
    flat = _LINE_BREAKS.sub(" ", visible(str(value))).replace("|", "\\|")
    fence = "`" * (1 + max((len(run) for run in re.findall("`+", flat)), default=0))
    padded = f" {flat} " if flat.startswith("`") or flat.endswith("`") else flat
    return f"{fence}{padded}{fence}"


MARKDOWN = Style(code=code, text=cell)
