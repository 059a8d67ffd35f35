"""A loaded policy: the file, its checks bound to resources, and the registry they come
from."""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from policycheck.errors import InputError
from policycheck.git import repository_root
from policycheck.plugin.registry import (
    PLUGIN_PACKAGES,
    PluginError,
    Registry,
    load_registry,
    plugin_modules,
)
from policycheck.policy.bindings import Binding, ResourceInstance, bind_checks, resource_instances
from policycheck.policy.document import EnvironmentConfig, Plugins, PolicyDocument
from policycheck.policy.templates import is_pattern
from policycheck.validation import describe_errors, read_yaml, sha256_file


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy file."""

    path: Path
    sha256: str
    document: PolicyDocument
    bindings: tuple[Binding, ...]
    registry: Registry
    #: Where drill records may be read from; None: the policy's repository (see
    #: ``repository``). The demo sets its scratch directory.
    records_root: Path | None = None

    @property
    def environments(self) -> dict[str, EnvironmentConfig]:
        return self.document.environments

    @property
    def records_dir(self) -> Path:
        """The drill records' directory (the policy file's ``evidence_dir``), resolved."""
        return (self.path.parent / self.document.evidence_dir).resolve()

    @cached_property
    def repository(self) -> Path:
        """The git work tree holding the policy file, or its directory outside git:
        drill records are read only from inside it."""
        if self.records_root is not None:
            return self.records_root.resolve()
        return repository_root(self.path)

    def resources_in(self, group: str, environment: str) -> list[ResourceInstance]:
        """The concrete resources of a group in one environment."""
        return resource_instances(self.document, group, environment)

    def is_discovered(self, group: str, environment: str) -> bool:
        """Whether the group names its resources by a pattern, listed at run time."""
        return any(is_pattern(r.name) for r in self.resources_in(group, environment))

    def resource_names(self, group: str, environment: str) -> list[str]:
        """The concrete names of a resource group in one environment."""
        return [instance.name for instance in self.resources_in(group, environment)]


def _registry(path: Path, plugins: Plugins) -> Registry:
    """The built-in plugins and the policy's own, checked together."""
    try:
        added = plugin_modules(plugins.modules, plugins.entry_points)
        return load_registry(PLUGIN_PACKAGES + added) if added else load_registry()
    except ImportError as exc:
        raise InputError(f"{path}: plugins: cannot import {exc.name or exc}: {exc}") from None
    except PluginError as exc:
        raise InputError(f"{path}: plugins: {exc}") from None


def load_policy(path: Path, registry: Registry | None = None) -> Policy:
    """Read and validate a policy file against the registry (default: the built-in
    plugins and those the policy's ``plugins:`` names); raise InputError naming file and
    key on any problem."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    try:
        document = PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        raise InputError("\n".join(describe_errors(path, exc))) from None
    registry = registry or _registry(path, document.plugins)
    return Policy(
        path=path,
        sha256=sha256_file(path),
        document=document,
        bindings=bind_checks(path, document, registry),
        registry=registry,
    )
