"""IAM-style wildcards: ``*`` matches any run of characters, ``?`` exactly one.

Unlike :mod:`fnmatch`, brackets are literal, as in IAM policies.
"""

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def _compile(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """Whether ``value`` matches the IAM wildcard ``pattern`` as a whole."""
    return _compile(pattern, case_sensitive).fullmatch(value) is not None


def covers_every_suffix(pattern: str, prefix: str) -> bool:
    """Whether ``pattern`` matches ``prefix + s`` for every non-empty string ``s``.

    Used to decide whether a Resource such as ``arn:aws:s3:::bucket/*`` (or ``*``, or
    ``arn:aws:s3:::bucket*``) covers every object of a bucket, whose ARNs all start with
    ``arn:aws:s3:::bucket/`` followed by a non-empty key.
    """
    if pattern in ("*", prefix + "*") or (
        pattern.endswith("*")
        and prefix.startswith(pattern[:-1])
        and "*" not in pattern[:-1]
        and "?" not in pattern[:-1]
    ):
        return True  # the usual forms: "*", "<prefix>*" or a literal head of the prefix + "*"
    states = _closure(pattern, {0})
    for ch in prefix:
        states = _closure(pattern, _step(pattern, states, ch))
        if not states:
            return False
    # Only a remainder made of wildcards can match keys built from characters the pattern
    # never names; such a remainder with q '?' matches lengths {q} (no '*') or all >= q.
    exact_lengths: set[int] = set()
    open_from: int | None = None
    for state in states:
        rest = pattern[state:]
        if rest.strip("*?"):
            continue
        q = rest.count("?")
        if "*" in rest:
            open_from = q if open_from is None else min(open_from, q)
        else:
            exact_lengths.add(q)
    if open_from is None:
        return False
    return all(length in exact_lengths for length in range(1, open_from))


def _closure(pattern: str, states: set[int]) -> set[int]:
    result = set(states)
    for state in sorted(states):
        position = state
        while position < len(pattern) and pattern[position] == "*":
            position += 1
            result.add(position)
    return result


def _step(pattern: str, states: set[int], ch: str) -> set[int]:
    following: set[int] = set()
    for state in states:
        if state >= len(pattern):
            continue
        token = pattern[state]
        if token == "*":
            following.add(state)
        elif token == "?" or token == ch:
            following.add(state + 1)
    return following
