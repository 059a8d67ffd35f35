"""The platform repository's resources: its Terraform/Terragrunt tree, the paths the
recovery plan names, and its GitHub Actions workflows. Their facts are read from the
audited commit (see ``policycheck.sources.repository.checkout``), not from AWS."""

from typing import Any

import yaml

from policycheck.plugin.facts import FactSpec, FetchContext, ResourceMissing
from policycheck.plugin.plans import FromRepository
from policycheck.plugin.resources import ResourceType
from policycheck.sources.repository.backends import TerraformTree
from policycheck.sources.repository.checkout import REPOSITORY, PlatformRepository, text_of

WORKFLOWS_DIR = ".github/workflows"


def _repository_type(name: str, label: str) -> ResourceType:
    return ResourceType(
        name=name,
        label=label,
        missing_codes=frozenset(),
        arn_template=f"urn:policycheck:repository:{name}:{{name}}",
    )


TERRAFORM_TREE = _repository_type("terraform_tree", "Terraform tree")
REPOSITORY_PATH = _repository_type("repository_path", "repository path")
GITHUB_WORKFLOW = _repository_type("github_workflow", "GitHub Actions workflow")


def _repository(ctx: FetchContext) -> PlatformRepository:
    repository: PlatformRepository = ctx.client(REPOSITORY)
    return repository


def _backends(ctx: FetchContext) -> Any:
    repository = _repository(ctx)
    entry = repository.entry(ctx.name)
    if entry is None or entry.kind != "directory":
        raise ResourceMissing()
    return {"commit": repository.commit, "modules": TerraformTree(repository, ctx.name).backends()}


def _path(ctx: FetchContext) -> Any:
    repository = _repository(ctx)
    entry = repository.entry(ctx.name)
    return {"commit": repository.commit, "path": ctx.name, "kind": entry.kind if entry else None}


class _WorkflowLoader(yaml.SafeLoader):
    """YAML 1.2 keys as GitHub reads them: ``on`` is a string, not the boolean true."""


_WorkflowLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _workflow(ctx: FetchContext) -> Any:
    repository = _repository(ctx)
    path = f"{WORKFLOWS_DIR}/{ctx.name}"
    found = {"commit": repository.commit, "path": path}
    if repository.entry(path) is None:
        return {**found, "exists": False}
    text = text_of(repository, path)
    try:
        document = yaml.load(text, Loader=_WorkflowLoader)
    except yaml.YAMLError as exc:
        return {**found, "exists": True, "parse_error": " ".join(str(exc).split())[:300]}
    return {**found, "exists": True, "document": document}


_READ = ("local:ReadRepository",)
BACKENDS = FactSpec("terraform_tree.backends", TERRAFORM_TREE, _READ, _backends)
PATH = FactSpec("repository_path.entry", REPOSITORY_PATH, _READ, _path)
WORKFLOW = FactSpec("github_workflow.definition", GITHUB_WORKFLOW, _READ, _workflow)
#: A plan shows neither the backend configuration nor the recovery plan's files, and an
#: apply does not change them: a plan run judges them on the commit, as ``run`` does.
BACKENDS_IN_PLANS = FromRepository(fact=BACKENDS.name)
PATH_IN_PLANS = FromRepository(fact=PATH.name)
WORKFLOW_IN_PLANS = FromRepository(fact=WORKFLOW.name)
