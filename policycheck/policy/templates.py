"""Name templates: resource names and similar parameters with ``{env}``-style placeholders.

Only plain placeholders are accepted. ``str.format`` would honour a format spec such as
``{env:>2000000000}`` (a string of two billion spaces) or a conversion; a template is
validated once and only then expanded."""

import string
from collections.abc import Collection, Iterable, Mapping
from fnmatch import fnmatchcase

#: Placeholders a resource name may use.
NAME_PLACEHOLDERS = ("env", "mcp", "region")


def placeholders(template: str, allowed: Collection[str] = NAME_PLACEHOLDERS) -> list[str]:
    """The placeholders of ``template``; ValueError unless each is a plain ``{name}`` of
    ``allowed`` (no format spec, conversion, attribute or index)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"malformed name pattern: {exc}") from None
    names = []
    known = ", ".join(f"{{{name}}}" for name in allowed)
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if spec or conversion:
            written = f"{{{field}{'!' + conversion if conversion else ''}:{spec}}}"
            shown = written if len(written) <= 40 else written[:37] + "..."
            raise ValueError(f"{shown} is not a plain placeholder; use {known}")
        if field not in allowed:
            shown = field if len(field) <= 40 else field[:37] + "..."
            raise ValueError(f"unknown placeholder {{{shown}}}; use {known}")
        names.append(field)
    return names


def expand(template: str, variables: Mapping[str, str]) -> str:
    """``template`` with its placeholders replaced; a missing variable expands to ""."""
    placeholders(template)
    return template.format_map({name: variables.get(name, "") for name in NAME_PLACEHOLDERS})


def expanded_length(template: str, lengths: Mapping[str, int]) -> int:
    """The length of ``template`` expanded with variables of these lengths, computed
    without expanding it; a ``*`` wildcard counts as nothing (it may match nothing)."""
    literal = "".join(text for text, _, _, _ in string.Formatter().parse(template))
    return (
        len(literal)
        - literal.count("*")
        + sum(lengths.get(name, 0) for name in placeholders(template))
    )


def name_template(value: str) -> str:
    """Pydantic validator for a name template parameter."""
    placeholders(value)
    return value


#: Characters that make a resource name a pattern, listed and matched at run time.
WILDCARDS = ("*", "?")


def is_pattern(name: str) -> bool:
    """Whether a resource name is a glob to discover rather than a name."""
    return any(ch in name for ch in WILDCARDS)


def literal_prefix(pattern: str) -> str:
    """The part of a pattern before its first wildcard."""
    cut = min((pattern.index(ch) for ch in WILDCARDS if ch in pattern), default=len(pattern))
    return pattern[:cut]


def matching(names: Iterable[str], pattern: str) -> list[str]:
    """The names a pattern matches (``*`` any run, ``?`` one character; case matters)."""
    return [name for name in names if fnmatchcase(name, pattern)]
