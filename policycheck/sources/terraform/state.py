"""The resources of a plan as they will be after the apply, and as they were before it.

Each resource instance keeps its values with the plan's markings: a value Terraform knows
only after the apply (``after_unknown``) is UNKNOWN and a sensitive one
(``after_sensitive``, ``before_sensitive``, ``sensitive_values``) is SENSITIVE. Reading
either raises :class:`Unknowable`, so a check that needs it is an error, never a pass, and
a sensitive value never reaches a report.

An attribute known only after the apply may still name another resource of the plan: a
versioning resource's ``bucket = aws_s3_bucket.audit.id`` when the bucket is created.
Such references are resolved through the plan's ``configuration`` (the expressions of the
resource's block, with their ``references``), within the same plan file and module
instance; with ``count``/``for_each``, to the instance of the same key.
"""

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from policycheck.report.model import PlanAction
from policycheck.sources.terraform.planfile import PlanFile, modules

Step = str | int
#: Names a reference may start with that are not resources.
NOT_RESOURCES = frozenset({"var", "local", "module", "each", "count", "path", "terraform", "self"})
REFERENCE = re.compile(
    r"^(?:(?P<data>data)\.)?(?P<type>[A-Za-z][\w-]*)\.(?P<name>[A-Za-z_][\w-]*)"
    r"(?:\[(?P<key>[^\]]+)\])?"
)
UNKNOWN_UNTIL_APPLY = "UnknownUntilApply"


class _Marker:
    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"<{self.label}>"


UNKNOWN = _Marker("known after apply")
SENSITIVE = _Marker("sensitive")


class Unknowable(Exception):
    """A value a fact needs that the plan does not tell: its fact is an error with
    ``code`` (UnknownUntilApply, SensitiveValue, NotInPlan, Ambiguous, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def overlay(value: Any, unknown: Any, sensitive: Any) -> Any:
    """``value`` with UNKNOWN where ``unknown`` is true and SENSITIVE where ``sensitive``
    is true (both have the shape of the value, or are one boolean for all of it)."""
    if unknown is True:
        return UNKNOWN
    if sensitive is True:
        return SENSITIVE
    if isinstance(value, dict) or isinstance(unknown, dict):
        base = value if isinstance(value, dict) else {}
        unknowns = unknown if isinstance(unknown, dict) else {}
        secrets = sensitive if isinstance(sensitive, dict) else {}
        return {
            key: overlay(base.get(key), unknowns.get(key), secrets.get(key))
            for key in {**base, **unknowns}
        }
    if isinstance(value, list) or isinstance(unknown, list):
        values = value if isinstance(value, list) else []
        unknown_items = unknown if isinstance(unknown, list) else []
        secret_items = sensitive if isinstance(sensitive, list) else []
        return [
            overlay(
                values[i] if i < len(values) else None,
                unknown_items[i] if i < len(unknown_items) else None,
                secret_items[i] if i < len(secret_items) else None,
            )
            for i in range(max(len(values), len(unknown_items)))
        ]
    return value


def path_text(steps: tuple[Step, ...]) -> str:
    """``point_in_time_recovery[0].enabled``."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _marked(value: Any) -> _Marker | None:
    """The first marker inside a value, if any."""
    if isinstance(value, _Marker):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((m for m in map(_marked, items) if m is not None), None)


_ABSENT = _Marker("absent")


def _child(container: Any, step: Step) -> Any:
    """An element of a list or a key of an object; _ABSENT when there is none."""
    if isinstance(container, list) and isinstance(step, int):
        return container[step] if step < len(container) else _ABSENT
    if isinstance(container, dict) and isinstance(step, str):
        return container.get(step, _ABSENT)
    return _ABSENT


class Node:
    """A place in a resource's values, read fail-closed."""

    __slots__ = ("instance", "path", "tree")

    def __init__(self, instance: "Instance", tree: Any, path: tuple[Step, ...] = ()) -> None:
        self.instance, self.tree, self.path = instance, tree, path

    def _at(self, steps: tuple[Step, ...]) -> Any:
        current = self.tree
        for depth, step in enumerate(steps):
            self._refuse(current, steps[:depth])
            current = _child(current, step)
            if current is _ABSENT:
                return None
        self._refuse(current, steps)
        return current

    def _refuse(self, value: Any, steps: tuple[Step, ...]) -> None:
        if isinstance(value, _Marker):
            raise self.instance.unknowable(self.path + steps, value)

    def get(self, *steps: Step) -> Any:
        """The known value there (None when absent); Unknowable when it, or anything in
        it, is known only after the apply or sensitive."""
        value = self._at(steps)
        marker = _marked(value)
        if marker is not None:
            raise self.instance.unknowable(self.path + steps, marker)
        return value

    def flag(self, *steps: Step) -> bool:
        """The boolean there (False when absent); Unknowable when it is unknown,
        sensitive, or not a boolean (``"yes"``)."""
        value = self.get(*steps)
        if value is None or isinstance(value, bool):
            return bool(value)
        raise Unknowable(
            "NotABoolean",
            f"{self.instance.address}: {path_text(self.path + steps)} is {value!r}, "
            "not true or false",
        )

    def number(self, *steps: Step) -> int | None:
        """The whole number there (None when absent): a JSON number, or digits in a string
        (some provider versions type sizes as strings); Unknowable when it is unknown,
        sensitive, or not a whole number (``"thirty"``, ``1.5``, ``true``)."""
        value = self.get(*steps)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise Unknowable(
            "NotANumber",
            f"{self.instance.address}: {path_text(self.path + steps)} is {value!r}, "
            "not a whole number",
        )

    def optional(self, *steps: Step) -> Any:
        """The value there, or None when it is absent, unknown or sensitive: for what no
        check judges (a key id shown beside the algorithm that is judged)."""
        try:
            return self.get(*steps)
        except Unknowable:
            return None

    def defaulted(self, *steps: Step) -> bool:
        """Whether AWS's default applies there: the value is known only after the apply and
        the configuration does not set it (older plan formats write an unset block so)."""
        return self.unknown(*steps) and not self.configured(*steps)

    def unknown(self, *steps: Step) -> bool:
        """Whether the value there is known only after the apply."""
        try:
            return self._at(steps) is UNKNOWN
        except Unknowable:
            return True

    def blocks(self, *steps: Step) -> list["Node"]:
        """The nested blocks there (Terraform writes blocks as lists of objects)."""
        value = self._at(steps)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [Node(self.instance, item, (*self.path, *steps, i)) for i, item in enumerate(items)]

    def first(self, *steps: Step) -> "Node | None":
        found = self.blocks(*steps)
        return found[0] if found else None

    def configured(self, *steps: Step) -> bool:
        """Whether the configuration sets the argument there (see Instance.configured)."""
        return self.instance.configured((*self.path, *steps))

    def resolve(self, *steps: Step, to: str) -> "Instance | None":
        """The resource of type ``to`` the argument there refers to, if the plan has it."""
        return self.instance.state.resolve(self.instance, (*self.path, *steps), to)


@dataclass(eq=False)
class Instance:
    """One resource instance of a plan file, as after the apply or as before it."""

    file: str
    address: str
    module: str
    mode: str
    type: str
    name: str
    index: Any
    actions: tuple[str, ...]
    tree: Any
    #: The expressions of its block in the configuration; None when the plan has none.
    config: dict[str, Any] | None
    state: "PlanState" = field(init=False, repr=False)

    @property
    def node(self) -> Node:
        return Node(self, self.tree)

    def get(self, *steps: Step) -> Any:
        return self.node.get(*steps)

    def flag(self, *steps: Step) -> bool:
        return self.node.flag(*steps)

    @property
    def action(self) -> PlanAction:
        """create, update, replace, delete, read or no-op."""
        actions = set(self.actions)
        if {"delete", "create"} <= actions:
            return "replace"
        if "create" in actions:
            return "create"
        if "delete" in actions:
            return "delete"
        if "update" in actions:
            return "update"
        return (
            "read" if "read" in actions else "no-op"
        )  # no-op, and forget (the resource stays, unmanaged)

    @property
    def label(self) -> str:
        return f"{self.address} ({self.action})"

    def unknowable(self, steps: tuple[Step, ...], marker: _Marker) -> Unknowable:
        where = f"{self.address}: {path_text(steps) or 'the resource'}"
        if marker is SENSITIVE:
            return Unknowable(
                "SensitiveValue",
                f"{where} is sensitive in the plan (its value is hidden)",
            )
        return Unknowable(UNKNOWN_UNTIL_APPLY, f"{where} is known only after apply")

    def _expression(self, steps: tuple[Step, ...]) -> Any:
        """The configuration's expression of an argument, or of a nested block (a list of
        expressions), None when not set; Unknowable when the plan has no configuration,
        or the block is not written out (a dynamic block)."""
        if self.config is None:
            raise Unknowable(
                "NoConfiguration",
                f"{self.address}: the plan has no configuration for it, so whether it sets "
                f"{path_text(steps)} cannot be told",
            )
        current: Any = self.config
        for depth, step in enumerate(steps):
            child = _child(current, step)
            if child is not _ABSENT:
                current = child
            elif depth == len(steps) - 1 and isinstance(current, dict):
                return None
            else:
                raise Unknowable(
                    UNKNOWN_UNTIL_APPLY,
                    f"{self.address}: {path_text(steps)} is known only after apply and its block "
                    "is not written out in the configuration (a dynamic block?)",
                )
        return current

    def configured(self, steps: tuple[Step, ...]) -> bool:
        """Whether the configuration sets this argument or block; a computed one it does
        not set takes the provider's (AWS's) default."""
        return self._expression(steps) not in (None, {}, [])

    def references(self, steps: tuple[Step, ...]) -> list[str]:
        try:
            expression = self._expression(steps)
        except Unknowable:
            return []
        references = expression.get("references") if isinstance(expression, dict) else None
        return [r for r in references or [] if isinstance(r, str)]


@dataclass(frozen=True)
class _Reference:
    mode: str
    type: str
    name: str
    key: Any

    @classmethod
    def parse(cls, text: str) -> "_Reference | None":
        match = REFERENCE.match(text)
        if not match or (match["type"] in NOT_RESOURCES and not match["data"]):
            return None
        key = match["key"]
        if key is not None:
            try:
                key = json.loads(key)
            except json.JSONDecodeError:
                return None  # a dynamic key (each.key): matched by the instance's own key
        return cls("data" if match["data"] else "managed", match["type"], match["name"], key)


class PlanState:
    """The resource instances of one or more plan files, as after the apply (``after``)
    or as before it (``before``), with the resources the plan deletes. Lookups record the
    instances they return (see ``recording``), so a verdict says what it rests on."""

    def __init__(self, view: str) -> None:
        self.view = view
        self.instances: list[Instance] = []
        self.deleted: list[Instance] = []
        self._blocks: dict[tuple[str, str, str, str, str], list[Instance]] = {}
        self._types: dict[tuple[str, str], list[Instance]] = {}
        self._indexes: dict[tuple[Any, ...], Any] = {}
        self._recorded: list[list[Instance]] = []

    def add(self, instance: Instance, deleted: bool = False) -> None:
        instance.state = self
        if deleted:
            self.deleted.append(instance)
            return
        self.instances.append(instance)
        block = (instance.file, instance.module, instance.mode, instance.type, instance.name)
        self._blocks.setdefault(block, []).append(instance)
        self._types.setdefault((instance.mode, instance.type), []).append(instance)

    @contextmanager
    def recording(self) -> Iterator[list[Instance]]:
        """The instances looked up inside the block, each once."""
        seen: list[Instance] = []
        self._recorded.append(seen)
        try:
            yield seen
        finally:
            self._recorded.remove(seen)

    def _record(self, found: list[Instance]) -> list[Instance]:
        for seen in self._recorded:
            seen += [i for i in found if not any(i is s for s in seen)]
        return found

    def of_type(self, tf_type: str, mode: str = "managed") -> list[Instance]:
        return self._record(list(self._types.get((mode, tf_type), [])))

    def named(self, tf_type: str, attr: str, value: str) -> list[Instance]:
        """Instances of a type whose (known) ``attr`` is ``value``."""
        index = self._index(("named", tf_type, attr), lambda: self._by_value(tf_type, attr))
        return self._record(list(index.get(value, [])))

    def _by_value(self, tf_type: str, attr: str) -> dict[Any, list[Instance]]:
        index: dict[Any, list[Instance]] = {}
        for instance in self._types.get(("managed", tf_type), []):
            value = instance.node.optional(attr)
            if isinstance(value, str | int):
                index.setdefault(value, []).append(instance)
        return index

    def deleted_with(self, tf_type: str, attr: str, value: str) -> list[Instance]:
        """Instances of a type the plan deletes whose ``attr`` was ``value``."""
        return self._record(
            [i for i in self.deleted if i.type == tf_type and i.node.optional(attr) == value]
        )

    def names(self, tf_type: str, attr: str) -> list[str]:
        """Every known ``attr`` of the type's instances, deleted ones included."""
        index = self._index(("named", tf_type, attr), lambda: self._by_value(tf_type, attr))
        deleted = [i.node.optional(attr) for i in self.deleted if i.type == tf_type]
        return sorted({str(v) for v in [*index, *deleted] if isinstance(v, str | int)})

    def attached(
        self, tf_type: str, attr: str, owner_type: str, owner_attr: str, value: str
    ) -> list[Instance]:
        """Instances of ``tf_type`` whose ``attr`` is ``value`` (a bucket's versioning,
        whose ``bucket`` is the bucket's name), also when ``attr`` is known only after the
        apply but refers to an ``owner_type`` whose ``owner_attr`` is ``value``. One whose
        ``attr`` cannot be told could belong to any owner: Unknowable."""
        key = ("attached", tf_type, attr, owner_type, owner_attr)
        index, unresolved = self._index(
            key, lambda: self._by_owner(tf_type, attr, owner_type, owner_attr)
        )
        if unresolved:
            first = unresolved[0]
            raise Unknowable(
                UNKNOWN_UNTIL_APPLY,
                f"{first.address}: {attr} is known only after apply and refers to no "
                f"{owner_type} of the plan: cannot tell which one it configures",
            )
        return self._record(list(index.get(value, [])))

    def _by_owner(
        self, tf_type: str, attr: str, owner_type: str, owner_attr: str
    ) -> tuple[dict[Any, list[Instance]], list[Instance]]:
        index: dict[Any, list[Instance]] = {}
        unresolved: list[Instance] = []
        for instance in self._types.get(("managed", tf_type), []):
            value = instance.node.optional(attr)
            if value is None and instance.node.unknown(attr):
                owner = self.resolve(instance, (attr,), owner_type)
                value = owner.node.optional(owner_attr) if owner else None
                if value is None:
                    unresolved.append(instance)
                    continue
            index.setdefault(value, []).append(instance)
        return index, unresolved

    def _index(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """An index built once, on the first lookup: what building it reads is not
        recorded (only what a lookup returns is), so evidence does not depend on which
        result looked first."""
        if key not in self._indexes:
            recording, self._recorded = self._recorded, []
            try:
                self._indexes[key] = build()
            finally:
                self._recorded = recording
        return self._indexes[key]

    def resolve(self, instance: Instance, steps: tuple[Step, ...], to_type: str) -> Instance | None:
        """The instance of ``to_type`` (managed, or ``data`` source) an argument refers
        to in the configuration: in the same file and module instance; with
        count/for_each, the one of the given key, the only one, or the one of the same key
        as ``instance``."""
        for text in instance.references(steps):
            reference = _Reference.parse(text)
            if reference is None or reference.type != to_type:
                continue
            block = (instance.file, instance.module, reference.mode, to_type, reference.name)
            candidates = self._blocks.get(block, [])
            if reference.key is not None:
                candidates = [c for c in candidates if c.index == reference.key]
            elif len(candidates) > 1:
                candidates = [c for c in candidates if c.index == instance.index]
            if len(candidates) == 1:
                return self._record(candidates)[0]
        return None


def build_states(plans: list[PlanFile]) -> tuple[PlanState, PlanState]:
    """The plans' resources as after the apply and as before it."""
    after, before = PlanState("after"), PlanState("before")
    for plan in plans:
        _add_plan(plan, after, before)
    return after, before


def _add_plan(plan: PlanFile, after: PlanState, before: PlanState) -> None:
    """A plan file's resources: resource_changes say what the apply does; data sources
    read while planning are in the prior state; planned_values adds what neither has."""
    document = plan.document
    config = configuration_index(document)

    def make(entry: dict[str, Any], module: str, actions: tuple[str, ...], tree: Any) -> Instance:
        mode = str(entry.get("mode") or "managed")
        block = ("data." if mode == "data" else "") + f"{entry['type']}.{entry['name']}"
        return Instance(
            file=plan.label,
            address=str(entry["address"]),
            module=module,
            mode=mode,
            type=str(entry["type"]),
            name=str(entry["name"]),
            index=entry.get("index"),
            actions=actions,
            tree=tree,
            config=config.get((_strip_keys(module), block)) if config is not None else None,
        )

    known: set[str] = set()
    for entry in document.get("resource_changes") or []:
        known.add(entry["address"])
        change, module = entry["change"], str(entry.get("module_address") or "")
        actions = tuple(change["actions"])
        if change.get("before") is not None:
            old = overlay(change["before"], None, change.get("before_sensitive"))
            before.add(make(entry, module, actions, old))
            if actions == ("delete",):
                after.add(make(entry, module, actions, old), deleted=True)
        if actions != ("delete",):
            new = overlay(
                change.get("after"), change.get("after_unknown"), change.get("after_sensitive")
            )
            after.add(make(entry, module, actions, new))
    for module, entry in _entries((document.get("prior_state") or {}).get("values")):
        if entry.get("mode") == "data":
            tree = overlay(entry.get("values"), None, entry.get("sensitive_values"))
            before.add(make(entry, module, ("no-op",), tree))
            if entry["address"] not in known:
                after.add(make(entry, module, ("no-op",), tree))
                known.add(entry["address"])
    for module, entry in _entries(document.get("planned_values")):
        if entry["address"] not in known:
            tree = overlay(entry.get("values"), None, entry.get("sensitive_values"))
            after.add(make(entry, module, ("no-op",), tree))


def _entries(values: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(module address, resource) for every resource of a values representation."""
    for module in modules(values):
        for entry in module.get("resources") or []:
            if isinstance(entry, dict) and isinstance(entry.get("type"), str):
                yield str(module.get("address") or ""), entry


def configuration_index(document: dict[str, Any]) -> dict[tuple[str, str], Any] | None:
    """The expressions of every resource block of the configuration, by (module path
    without instance keys, address in the module); None when the plan has none."""
    configuration = document.get("configuration")
    if not isinstance(configuration, dict):
        return None
    index: dict[tuple[str, str], Any] = {}
    pending: list[tuple[str, Any]] = [("", configuration.get("root_module"))]
    while pending:
        path, module = pending.pop()
        if not isinstance(module, dict):
            continue
        for resource in module.get("resources") or []:
            if isinstance(resource, dict) and isinstance(resource.get("address"), str):
                index[(path, resource["address"])] = resource.get("expressions") or {}
        for name, call in (module.get("module_calls") or {}).items():
            if isinstance(call, dict):
                pending.append(
                    (f"{path}.module.{name}" if path else f"module.{name}", call.get("module"))
                )
    return index


def _strip_keys(address: str) -> str:
    """A module address without instance keys: ``module.mcp["teams"].module.secret`` is
    ``module.mcp.module.secret``."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in address:
        if depth:
            if quoted:
                escaped, quoted = (
                    (not escaped and char == "\\"),
                    quoted and (escaped or char != '"'),
                )
            elif char == '"':
                quoted = True
            elif char == "]":
                depth = 0
            continue
        if char == "[":
            depth = 1
            continue
        out.append(char)
    return "".join(out)
