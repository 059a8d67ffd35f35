"""Terraform backends as a Terragrunt tree configures them, read from its HCL with
python-hcl2's parser (never with regular expressions) and without running terragrunt.

Every module that runs ``apply`` is found: each ``terragrunt.hcl`` below the tree's
directory except the root configuration (``root.hcl`` or ``terragrunt.hcl`` at the top),
and each directory of ``.tf`` files that declares a backend. A module's backend is, in
Terragrunt's order: its own ``remote_state`` block, else the ``remote_state`` of the file
it includes, else a ``terraform { backend "…" }`` block of its ``.tf`` files, else
Terraform's default, the local backend.

Settings are evaluated where they are plain: literals, ``local.*`` of the same file,
``path_relative_to_include()``, ``get_terragrunt_dir()`` and ``find_in_parent_folders()``.
``get_env(NAME[, default])`` stays symbolic (``{"get_env": NAME, "default": …}``) for the
check to resolve with the environment it judges. Anything else is kept as
``{"unresolved": text}``: the check turns it into an error, never a pass.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError

from policycheck.sources.repository.checkout import PlatformRepository, UnreadableFile

#: The backend settings the check judges (the rest are not read).
SETTINGS = ("bucket", "region", "encrypt", "dynamodb_table", "use_lockfile")
ROOT_CONFIGS = ("root.hcl", "terragrunt.hcl")
MODULE_CONFIG = "terragrunt.hcl"
#: Terragrunt's default for find_in_parent_folders() without a name.
DEFAULT_PARENT_CONFIG = "terragrunt.hcl"
#: The functions a judged value may call that need terragrunt to run.
UNRESOLVED = "unresolved"


class InvalidHcl(Exception):
    """A configuration file that is not valid HCL (or cannot be read)."""

    code = "InvalidHcl"


@dataclass
class HclFile:
    """What one file declares: locals, includes, remote_state and a backend block."""

    path: str
    locals: dict[str, Tree[Any]] = field(default_factory=dict)
    includes: list[Tree[Any]] = field(default_factory=list)
    remote_state: dict[str, Tree[Any]] | None = None
    backend: tuple[str, dict[str, Tree[Any]]] | None = None


def _children(node: Tree[Any]) -> list[Tree[Any]]:
    return [child for child in node.children if isinstance(child, Tree)]


def _name(node: Tree[Any]) -> str:
    """The text of an identifier (or of a block label string)."""
    return "".join(str(token) for token in node.scan_values(lambda v: isinstance(v, Token)))


def _label(node: Tree[Any]) -> str:
    return "".join(
        str(t) for t in node.scan_values(lambda v: isinstance(v, Token) and v.type != "DBLQUOTE")
    )


def _attributes(body: Tree[Any]) -> dict[str, Tree[Any]]:
    attributes = {}
    for item in _children(body):
        if item.data == "attribute":
            name, value = _children(item)[0], _children(item)[-1]
            attributes[_name(name)] = value
    return attributes


def _blocks(body: Tree[Any]) -> list[tuple[str, list[str], Tree[Any]]]:
    blocks = []
    for item in _children(body):
        if item.data == "block":
            parts = _children(item)
            blocks.append((_name(parts[0]), [_label(p) for p in parts[1:-1]], parts[-1]))
    return blocks


def parse_file(path: str, text: str) -> HclFile:
    """The declarations of one HCL file; InvalidHcl when it does not parse."""
    try:
        tree = hcl2.parses_to_tree(text)
    except (LarkError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidHcl(f"{path}: not valid HCL: {first[:200]}") from None
    parsed = HclFile(path)
    for body in _children(tree):
        for name, _labels, block in _blocks(body):
            if name == "locals":
                parsed.locals.update(_attributes(block))
            elif name == "include":
                parsed.includes.append(block)
            elif name == "remote_state":
                parsed.remote_state = _attributes(block)
            elif name == "terraform":
                for inner, inner_labels, inner_block in _blocks(block):
                    if inner == "backend" and inner_labels:
                        parsed.backend = (inner_labels[0], _attributes(inner_block))
    return parsed


@dataclass(frozen=True)
class Scope:
    """What a file's expressions may refer to: its locals, the module including it."""

    file: HclFile
    #: The including module's directory, relative to the including file's directory.
    relative_to_include: str
    #: The including module's directory in the repository.
    module_dir: str


def _text(node: Tree[Any]) -> str:
    return "".join(str(t) for t in node.scan_values(lambda v: isinstance(v, Token))).strip()


def _unescape(chars: str) -> str:
    chars = chars.replace("$${", "${").replace("%%{", "%{")
    return str(json.loads(f'"{chars}"')) if "\\" in chars else chars


def evaluate(node: Tree[Any], scope: Scope, seen: frozenset[str] = frozenset()) -> Any:
    """A value where the expression is plain: a literal, a dict, a string, or a template
    ``{"template": [parts]}`` with symbolic get_env parts; else ``{"unresolved": text}``."""
    kind = node.data
    inner = _children(node)
    if kind in ("expr_term", "interpolation") and len(inner) == 1:
        return evaluate(inner[0], scope, seen)
    if kind == "literal_value":
        return {"true": True, "false": False, "null": None}.get(_text(node), _unresolved(node))
    if kind in ("int_lit", "float_lit"):
        return json.loads(_text(node))
    if kind == "string":
        return _string(node, scope, seen)
    if kind == "object":
        return {
            _object_key(elem): evaluate(_children(elem)[-1], scope, seen)
            for elem in inner
            if elem.data == "object_elem"
        }
    if kind == "get_attr_expr_term":
        return _local(node, scope, seen)
    if kind == "function_call":
        return _function(node, scope, seen)
    return _unresolved(node)


def _unresolved(node: Tree[Any]) -> dict[str, str]:
    return {UNRESOLVED: _text(node)[:200]}


def _object_key(elem: Tree[Any]) -> str:
    return _label(_children(elem)[0])


def _string(node: Tree[Any], scope: Scope, seen: frozenset[str]) -> Any:
    parts: list[Any] = []
    for part in _children(node):
        for piece in part.children:
            value = (
                evaluate(piece, scope, seen) if isinstance(piece, Tree) else _unescape(str(piece))
            )
            if isinstance(value, dict) and "template" in value:
                parts.extend(value["template"])
            elif isinstance(value, dict) and UNRESOLVED in value:
                return _unresolved(node)
            elif isinstance(value, dict):  # a get_env part
                parts.append(value)
            else:
                parts.append(_interpolated(value))
    return joined(parts)


def _interpolated(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def joined(parts: list[Any]) -> Any:
    """Adjacent literal parts merged; a single literal is the string itself."""
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if all(isinstance(part, str) for part in merged):
        return "".join(merged)
    return {"template": merged}


def _local(node: Tree[Any], scope: Scope, seen: frozenset[str]) -> Any:
    base, attribute = _children(node)
    if _text(base) != "local":
        return _unresolved(node)
    name = _text(attribute).lstrip(".")
    if name not in scope.file.locals or name in seen:
        return _unresolved(node)
    return evaluate(scope.file.locals[name], scope, seen | {name})


def _function(node: Tree[Any], scope: Scope, seen: frozenset[str]) -> Any:
    parts = _children(node)
    name = _name(parts[0])
    arguments = [
        evaluate(argument, scope, seen)
        for group in parts[1:]
        if group.data == "arguments"
        for argument in _children(group)
    ]
    if name == "path_relative_to_include" and not arguments:
        return scope.relative_to_include
    if name == "get_terragrunt_dir" and not arguments:
        return scope.module_dir
    plain = all(isinstance(a, str) for a in arguments)
    if name == "get_env" and plain and len(arguments) in (1, 2):
        return {"template": [{"get_env": arguments[0], "default": (arguments[1:] or [None])[0]}]}
    if name == "find_in_parent_folders" and plain and len(arguments) <= 1:
        return {"find_in_parent_folders": (arguments or [DEFAULT_PARENT_CONFIG])[0]}
    return _unresolved(node)


# --- modules of a tree ------------------------------------------------------------------


def _parent(path: str) -> str:
    parent = PurePosixPath(path).parent.as_posix()
    return "" if parent == "." else parent


def _relative(path: str, start: str) -> str:
    """``path`` relative to the directory ``start`` (both in the repository)."""
    path_parts, start_parts = PurePosixPath(path).parts, PurePosixPath(start).parts
    common = 0
    while (
        common < min(len(path_parts), len(start_parts))
        and path_parts[common] == start_parts[common]
    ):
        common += 1
    parts = [".."] * (len(start_parts) - common) + list(path_parts[common:])
    return "/".join(parts) or "."


class TerraformTree:
    """The Terraform/Terragrunt configuration below one directory of the repository."""

    def __init__(self, repository: PlatformRepository, directory: str) -> None:
        self.repository = repository
        self.directory = directory.strip("/")
        found = repository.files_under(self.directory, (".hcl", ".tf"))
        self.paths = {entry.path for entry in found}
        texts = repository.texts(sorted(self.paths))
        self.files: dict[str, HclFile] = {}
        for path, text in texts.items():
            if isinstance(text, UnreadableFile):
                raise text
            self.files[path] = parse_file(path, text)

    def _in(self, *parts: str) -> str:
        return "/".join(part for part in parts if part)

    def root_config(self) -> str | None:
        for name in ROOT_CONFIGS:
            path = self._in(self.directory, name)
            if path in self.paths:
                return path
        return None

    def modules(self) -> list[str]:
        """The directories that run apply (see the module's docstring), by path."""
        root = self.root_config()
        units = {
            _parent(path)
            for path in self.paths
            if PurePosixPath(path).name == MODULE_CONFIG and path != root
        }
        planned = {
            _parent(path)
            for path, parsed in self.files.items()
            if path.endswith(".tf") and parsed.backend is not None
        }
        return sorted(units | planned)

    def _find_parent(self, module: str, name: str) -> str | None:
        directory = _parent(module) if module else None
        while directory is not None:
            candidate = self._in(directory, name)
            if candidate in self.paths:
                return candidate
            directory = _parent(directory) if directory else None
        return None

    def _include_target(self, module: str, include: Tree[Any]) -> Any:
        unit = self.files[self._in(module, MODULE_CONFIG)]
        attributes = _attributes(include)
        if "path" not in attributes:
            return {UNRESOLVED: "include without a path"}
        value = evaluate(attributes["path"], Scope(unit, ".", module))
        if isinstance(value, dict) and "find_in_parent_folders" in value:
            found = self._find_parent(module, value["find_in_parent_folders"])
            return found or {UNRESOLVED: f"find_in_parent_folders({value})"}
        if isinstance(value, str):
            joined_path = PurePosixPath(module, value) if not value.startswith("/") else None
            if joined_path is not None:
                return _normalise(joined_path.as_posix())
        return {UNRESOLVED: f"include path {_text(attributes['path'])}"}

    def backend_of(self, module: str) -> dict[str, Any]:
        """The module's backend: where it is declared, its type and judged settings."""
        unit_path = self._in(module, MODULE_CONFIG)
        unit = self.files.get(unit_path)
        if unit is not None:
            if unit.remote_state is not None:
                return _remote_state(module, unit, Scope(unit, ".", module))
            for include in unit.includes:
                target = self._include_target(module, include)
                if isinstance(target, dict):
                    return {"module": module, "declared_in": unit_path, **target}
                included = self.files.get(target)
                if included is None:
                    return {
                        "module": module,
                        "declared_in": unit_path,
                        UNRESOLVED: f"includes {target}, which is not on the commit",
                    }
                if included.remote_state is not None:
                    scope = Scope(included, _relative(module, _parent(target)), module)
                    return _remote_state(module, included, scope)
        for path in sorted(self.paths):
            parsed = self.files[path]
            if _parent(path) == module and path.endswith(".tf") and parsed.backend:
                kind, settings = parsed.backend
                scope = Scope(parsed, ".", module)
                return _described(module, path, kind, settings, scope)
        return {"module": module, "declared_in": None, "backend": "local", "settings": {}}

    def backends(self) -> list[dict[str, Any]]:
        return [self.backend_of(module) for module in self.modules()]


def _normalise(path: str) -> Any:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if not parts:
                return {UNRESOLVED: f"{path} is outside the repository"}
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _remote_state(module: str, declaring: HclFile, scope: Scope) -> dict[str, Any]:
    block = declaring.remote_state or {}
    kind = evaluate(block["backend"], scope) if "backend" in block else None
    config = evaluate(block["config"], scope) if "config" in block else {}
    if not isinstance(config, dict) or UNRESOLVED in config:
        return {"module": module, "declared_in": declaring.path, UNRESOLVED: "remote_state config"}
    return {
        "module": module,
        "declared_in": declaring.path,
        "backend": kind,
        "settings": {key: config[key] for key in SETTINGS if key in config},
    }


def _described(
    module: str, path: str, kind: str, settings: Mapping[str, Tree[Any]], scope: Scope
) -> dict[str, Any]:
    return {
        "module": module,
        "declared_in": path,
        "backend": kind,
        "settings": {key: evaluate(settings[key], scope) for key in SETTINGS if key in settings},
    }
