"""Reading a large JSON document a piece at a time, with the standard library only: the
members of an object and the items of an array one after the other, each value decoded
on its own, so that a report of any size is read in little memory."""

import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

WHITESPACE = " \t\n\r"
_NOT_WHITESPACE = re.compile(r"[^ \t\n\r]")
#: A value that does not decode within this many characters is reported where decoding
#: failed, not read on to the end of the file (a report's largest value, a result, is a
#: few KB).
MAX_VALUE_CHARS = 16 * 2**20


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different (JSON allows repeats; a report must not
    have them: which one counts would be up to the reader)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        keys = [key for key, _ in pairs]
        repeated = next(key for index, key in enumerate(keys) if key in keys[:index])
        raise ValueError(f"the key {repeated!r} appears twice in an object")
    return found


def refuse_constant(constant: str) -> Any:
    """``Infinity``, ``-Infinity`` and ``NaN`` are not JSON (RFC 8259), though Python
    reads them by default."""
    raise ValueError(f"not valid JSON: {constant} is not a JSON number")


class JsonReader:
    """A cursor over a JSON text: call ``members`` at an object and ``items`` at an array,
    and read each member's or item's value (``value``, or ``members``/``items`` again)
    before asking for the next. Raises ValueError where the text is not JSON."""

    def __init__(self, file: TextIO, chunk: int = 2**20) -> None:
        self._file = file
        self._chunk = chunk
        self._buffer = ""
        self._position = 0
        self._ended = False
        self._consumed = 0  # characters dropped from the buffer's front
        self._decoder = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=refuse_constant)

    def value(self) -> Any:
        """The next value, whole (meant for the small ones)."""
        self._peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._position)
            except json.JSONDecodeError as error:
                pending = len(self._buffer) - self._position
                if pending <= MAX_VALUE_CHARS and self._more():
                    continue
                where = self._consumed + error.pos
                raise ValueError(f"not valid JSON: {error.msg} (character {where})") from None
            except RecursionError:
                raise ValueError(f"nested too deeply ({self._where()})") from None
            if self._cut(value, end) and self._more():
                continue
            self._position = end
            return value

    def _cut(self, value: Any, end: int) -> bool:
        """Whether the value may go on past the buffer: a number not followed by a
        delimiter yet ("1.5" of "1.5e3"), or anything that ends with the buffer."""
        if end == len(self._buffer):
            return True
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and self._buffer[end] not in WHITESPACE + ",]}"

    def members(self) -> Iterator[str]:
        """At an object: each key in turn (its value to be read before the next)."""
        self._expect("{")
        if self._peek() == "}":
            self._position += 1
            return
        seen: set[str] = set()
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise ValueError(f"not valid JSON: a key is not a string ({self._where()})")
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice ({self._where()})")
            seen.add(key)
            self._expect(":")
            yield key
            if self._peek() == ",":
                self._position += 1
                continue
            self._expect("}")
            return

    def items(self) -> Iterator[int]:
        """At an array: the index of each item in turn (the item to be read before the
        next)."""
        self._expect("[")
        if self._peek() == "]":
            self._position += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            if self._peek() == ",":
                self._position += 1
                continue
            self._expect("]")
            return

    def at(self, opening: str) -> bool:
        """Whether the next value opens with ``opening`` ("{" an object, "[" an array)."""
        return self._peek() == opening

    def end(self) -> None:
        """Raise ValueError unless only whitespace is left."""
        try:
            self._peek()
        except ValueError:
            return
        raise ValueError(f"not valid JSON: more after the end ({self._where()})")

    def _peek(self) -> str:
        """The next character that is not whitespace (not consumed)."""
        while True:
            found = _NOT_WHITESPACE.search(self._buffer, self._position)
            if found:
                self._position = found.start()
                return self._buffer[self._position]
            self._position = len(self._buffer)
            if not self._more():
                raise ValueError("not valid JSON: it ends too early")

    def _expect(self, character: str) -> None:
        if self._peek() != character:
            raise ValueError(f"not valid JSON: expected {character!r} ({self._where()})")
        self._position += 1

    def _more(self) -> bool:
        """Read the next chunk (dropping what was consumed); False at the end."""
        if self._ended:
            return False
        data = self._file.read(self._chunk)
        if not data:
            self._ended = True
            return False
        self._consumed += self._position
        self._buffer = self._buffer[self._position :] + data
        self._position = 0
        return True

    def _where(self) -> str:
        return f"character {self._consumed + self._position}"
