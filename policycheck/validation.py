"""Reading YAML input and turning validation failures into one clear message."""

import hashlib
import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from policycheck.errors import InputError


class StrictModel(BaseModel):
    """Input models reject unknown keys so that typos are reported, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: Policy and control files are small; anything larger is refused before parsing.
MAX_YAML_BYTES = 1024 * 1024
#: Nodes of a document with every alias expanded: a "billion laughs" document is a few
#: hundred bytes that expand to billions of nodes for whoever walks it.
MAX_YAML_NODES = 200_000
#: Bytes of the scalars of a document with every alias expanded: one long string repeated
#: through aliases is few nodes but, copied into every name, gigabytes.
MAX_YAML_EXPANDED_BYTES = 4 * MAX_YAML_BYTES


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing documents whose alias expansion exceeds MAX_YAML_NODES
    nodes or MAX_YAML_EXPANDED_BYTES bytes of scalars."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is None:
            return node
        nodes, size = expanded_size(node, MAX_YAML_NODES, MAX_YAML_EXPANDED_BYTES)
        if nodes > MAX_YAML_NODES:
            raise yaml.YAMLError(
                f"the document expands to more than {MAX_YAML_NODES:,} nodes through its "
                "aliases (&anchor/*alias); write the values out"
            )
        if size > MAX_YAML_EXPANDED_BYTES:
            raise yaml.YAMLError(
                f"the document expands to more than {MAX_YAML_EXPANDED_BYTES // 1024**2} MiB "
                "of text through its aliases (&anchor/*alias); write the values out"
            )
        return node


def expanded_size(root: yaml.Node, node_limit: int, byte_limit: int) -> tuple[int, int]:
    """Nodes of ``root`` and UTF-8 bytes of its scalars, counted as if every alias were
    copied out; each stops past its limit. Linear in the document (shared nodes are
    counted once, multiplied)."""
    sizes: dict[int, tuple[int, int]] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            nodes = 1 + sum(sizes[id(child)][0] for child in children)
            size = sum(sizes[id(child)][1] for child in children) + _scalar_bytes(node)
            sizes[id(node)] = (min(nodes, node_limit + 1), min(size, byte_limit + 1))
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _scalar_bytes(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode):
        return len(str(node.value).encode("utf-8", "surrogatepass"))
    return 0


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_yaml(text: str, source: Path | str) -> Any:
    """Parse YAML text with bounded size and alias expansion, or raise InputError naming
    ``source`` (and the line)."""
    if len(text) > MAX_YAML_BYTES:
        raise InputError(f"{source}: larger than {MAX_YAML_BYTES // 1024} KiB; refused")
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{source}{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise InputError(f"{source}: invalid YAML: nested too deeply") from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file (see parse_yaml), or raise InputError naming the file (and line)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text: {exc.reason}") from None
    return parse_yaml(text, path)


#: Shows an offending input in an error message without walking all of it.
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 60
_SHORT_REPR.maxlist = _SHORT_REPR.maxdict = _SHORT_REPR.maxtuple = _SHORT_REPR.maxset = 4
_SHORT_REPR.maxlevel = 3


def short_repr(value: Any) -> str:
    """At most about 60 characters of ``repr(value)``, computed without walking all of it."""
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def key_path(location: Sequence[str | int]) -> str:
    """``("checks", 3, "params")`` -> ``checks[3].params``."""
    text = ""
    for part in location:
        if part == "[key]":  # pydantic's marker of an invalid mapping key: the key is named
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_errors(
    path: Path, error: ValidationError, prefix: Sequence[str | int] = ()
) -> list[str]:
    """One line per pydantic error: ``file: key.path: message (got value)``."""
    lines = []
    for item in error.errors(include_url=False):
        location = [*prefix, *item["loc"]]
        message = item["msg"]
        if item["type"] not in ("missing", "extra_forbidden") and "input" in item:
            message += f" (got {short_repr(item['input'])})"
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{path}: {key_path(location)}: {message}")
    return lines


def raise_if_errors(problems: list[str]) -> None:
    """Raise one InputError listing every problem, if there are any."""
    if problems:
        raise InputError("\n".join(problems))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
