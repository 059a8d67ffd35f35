"""Writing a large JSON document without holding it: the document is built with a
placeholder where each long list goes, and each list is written item by item, exactly as
``json.dumps(document, indent=2)`` would have written it."""

import json
import re
from collections.abc import Iterable
from typing import Any, TextIO

_PLACEHOLDER = "\x00list:{}"
_FOUND = re.compile(r'"\\u0000list:(\d+)"')


class Lists:
    """Placeholders for long lists in a document (see write_document)."""

    def __init__(self) -> None:
        self.items: list[Iterable[Any]] = []

    def __call__(self, items: Iterable[Any]) -> str:
        """A placeholder that write_document replaces with ``items``."""
        self.items.append(items)
        return _PLACEHOLDER.format(len(self.items) - 1)


def write_document(out: TextIO, document: Any, lists: Lists, indent: int = 2) -> None:
    """``json.dumps(document, indent=indent) + "\\n"`` with every placeholder replaced by
    its list, the list's items written one at a time."""
    text = json.dumps(document, indent=indent)
    position = 0
    for found in _FOUND.finditer(text):
        out.write(text[position : found.start()])
        line_start = text.rfind("\n", 0, found.start()) + 1
        level = len(text[line_start:]) - len(text[line_start:].lstrip(" "))
        _write_list(out, lists.items[int(found.group(1))], level, indent)
        position = found.end()
    out.write(text[position:] + "\n")


def _write_list(out: TextIO, items: Iterable[Any], level: int, indent: int) -> None:
    inner = " " * (level + indent)
    separator = "[\n" + inner
    for item in items:
        out.write(separator + json.dumps(item, indent=indent).replace("\n", "\n" + inner))
        separator = ",\n" + inner
    out.write("[]" if separator.startswith("[") else "\n" + " " * level + "]")
