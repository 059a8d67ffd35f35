"""Text every reader shows as text, whatever the input: AWS names, policy text, waivers
and reports can hold control characters. XML 1.0 forbids C0 controls other than tab,
newline and carriage return, lone surrogates, U+FFFE and U+FFFF (no escape can carry
them: a character reference to one is ill-formed too); a terminal runs ESC and CSI
sequences (ANSI escapes). Each such character, and DEL and the C1 controls, is written as
a visible ``\\xNN`` or ``\\uNNNN`` instead."""

import re

_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _shown(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character (but tab, newline and carriage return),
    and every character XML 1.0 forbids, replaced by its escape sequence."""
    return _CONTROLS.sub(_shown, text)
