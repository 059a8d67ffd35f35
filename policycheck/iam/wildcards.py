"""IAM-style wildcards: ``*`` matches any run of characters, ``?`` exactly one.

Unlike :mod:`fnmatch`, brackets are literal, as in IAM policies.
"""

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache


@lru_cache(maxsize=1024)
def _compile(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def wildcard_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    """Whether ``value`` matches the IAM wildcard ``pattern`` as a whole."""
    return _compile(pattern, case_sensitive).fullmatch(value) is not None


def _closure(pattern: str, states: AbstractSet[int]) -> set[int]:
    result = set(states)
    for state in sorted(states):
        position = state
        while position < len(pattern) and pattern[position] == "*":
            position += 1
            result.add(position)
    return result


def _step(pattern: str, states: AbstractSet[int], ch: str) -> set[int]:
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


def some_string_matches(all_of: Sequence[str], none_of: Sequence[str] = ()) -> bool:
    """Whether one string matches every pattern of ``all_of`` and no pattern of
    ``none_of`` (case-sensitive IAM wildcards). Decided exactly: a search over the
    product of the patterns' automata, on the characters the patterns name plus one they
    do not (``*`` and ``?`` treat every other character alike). The same question comes
    back for every principal and action that share a statement: answers are kept."""
    return _some_string_matches(tuple(dict.fromkeys(all_of)), tuple(dict.fromkeys(none_of)))


@lru_cache(maxsize=8192)
def _some_string_matches(all_of: tuple[str, ...], none_of: tuple[str, ...]) -> bool:
    literal = next((p for p in all_of if "*" not in p and "?" not in p), None)
    if literal is not None:  # the only candidate
        return all(wildcard_match(p, literal) for p in all_of) and not any(
            wildcard_match(p, literal) for p in none_of
        )
    alphabet = {ch for pattern in (*all_of, *none_of) for ch in pattern if ch not in "*?"}
    alphabet.add("\x00" if "\x00" not in alphabet else "\x01")
    wanted_states = [_closure(p, {0}) for p in all_of]
    unwanted_states = [_closure(p, {0}) for p in none_of]
    # Every match starts with the longest literal head of the patterns it must match.
    head = max((re.split(r"[*?]", p, maxsplit=1)[0] for p in all_of), key=len, default="")
    for ch in head:
        wanted_states = [
            _closure(p, _step(p, q, ch)) for p, q in zip(all_of, wanted_states, strict=True)
        ]
        unwanted_states = [
            _closure(p, _step(p, q, ch)) for p, q in zip(none_of, unwanted_states, strict=True)
        ]
        if not all(wanted_states):
            return False
    start = (
        tuple(frozenset(q) for q in wanted_states),
        tuple(frozenset(q) for q in unwanted_states),
    )
    seen, frontier = {start}, [start]
    while frontier:
        wanted, unwanted = frontier.pop()
        if all(len(p) in s for p, s in zip(all_of, wanted, strict=True)) and not any(
            len(p) in s for p, s in zip(none_of, unwanted, strict=True)
        ):
            return True
        for ch in alphabet:
            following = (
                tuple(
                    frozenset(_closure(p, _step(p, s, ch)))
                    for p, s in zip(all_of, wanted, strict=True)
                ),
                tuple(
                    frozenset(_closure(p, _step(p, s, ch)))
                    for p, s in zip(none_of, unwanted, strict=True)
                ),
            )
            if all(following[0]) and following not in seen:
                seen.add(following)
                frontier.append(following)
    return False
