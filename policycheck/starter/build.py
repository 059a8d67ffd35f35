"""`policycheck init`: the files an adopter needs, written once and valid from the start: a
policy.yaml to edit, controls/ with one control mapped to a framework, and the drill
evidence directory with one example record (templates in policycheck/starter/); and, with
--discover, the resources the account has, proposed as policy entries to confirm."""

import datetime
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from policycheck.errors import InputError, aws_error
from policycheck.paths import CONTROLS_DIRNAME, POLICY_FILENAME

STARTER = Path(__file__).resolve().parent
EVIDENCE_DIRNAME = "dr-evidence"
EXAMPLE_CONTROL = "BK.01.yaml"
EXAMPLE_DRILL = "restore-drill"


@dataclass(frozen=True)
class Starter:
    """The files init writes, by path relative to the directory, and their text."""

    files: dict[str, str]


def starter(region: str, today: datetime.date) -> Starter:
    """The starter files for ``region``, the drill record dated ``today``."""
    policy = (STARTER / "policy.yaml").read_text(encoding="utf-8").format(region=region)
    record = (STARTER / "drill-record.yaml").read_text(encoding="utf-8")
    return Starter(
        {
            POLICY_FILENAME: policy,
            f"{CONTROLS_DIRNAME}/{EXAMPLE_CONTROL}": (STARTER / EXAMPLE_CONTROL).read_text(
                encoding="utf-8"
            ),
            f"{EVIDENCE_DIRNAME}/{EXAMPLE_DRILL}/{today.isoformat()}-prod.yaml": record.format(
                date=today.isoformat()
            ),
        }
    )


def write_starter(directory: Path, files: Starter) -> list[Path]:
    """Write the files under ``directory``; InputError, before writing any, when one of
    them, or the controls or evidence directory, is there already (nothing is replaced)."""
    existing = [
        directory / name
        for name in (POLICY_FILENAME, CONTROLS_DIRNAME, EVIDENCE_DIRNAME)
        if (directory / name).exists()
    ]
    if existing:
        raise InputError(f"{existing[0]}: exists; init writes only into a directory without it")
    written = []
    for name, text in files.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


#: Words that name an environment inside a resource name (``app-state-prod``).
ENVIRONMENT_WORDS = frozenset(
    {"dev", "development", "test", "qa", "uat", "stage", "staging", "prod", "production"}
)
#: The resource types init proposes, and the check each is first bound to.
DISCOVERED_TYPES = {
    "s3_bucket": "s3-versioning-enabled",
    "dynamodb_table": "dynamodb-pitr-enabled",
    "ecr_repository": "ecr-image-available",
    "ecs_service": "ecs-service-stable",
}
_SEPARATORS = re.compile(r"([-_./])")


@dataclass(frozen=True)
class Proposal:
    """Resources of one type grouped under one name pattern: what a policy would name."""

    type: str
    name: str
    cluster: str | None
    #: The names found (a service's with its cluster), and the environment of each (""
    #: when neither the name nor the cluster's has one).
    found: tuple[tuple[str, str], ...]


def env_pattern(name: str) -> tuple[str, str]:
    """``app-state-prod`` -> (``app-state-{env}``, ``prod``): the name with its one
    environment word replaced; the name itself and "" when it has none or several."""
    parts = _SEPARATORS.split(name)
    hits = [i for i, part in enumerate(parts) if part.lower() in ENVIRONMENT_WORDS]
    if len(hits) != 1:
        return name, ""
    environment = parts[hits[0]].lower()
    parts[hits[0]] = "{env}"
    return "".join(parts), environment


def propose(found: list[tuple[str, str, str | None]]) -> list[Proposal]:
    """Group (type, name, cluster) found in the account by {env} pattern."""
    groups: dict[tuple[str, str, str | None], list[tuple[str, str]]] = {}
    for kind, name, cluster in found:
        pattern, environment = env_pattern(name)
        cluster_pattern, cluster_environment = env_pattern(cluster) if cluster else (None, "")
        seen = f"{name} in {cluster}" if cluster else name
        groups.setdefault((kind, pattern, cluster_pattern), []).append(
            (seen, environment or cluster_environment)
        )
    return [
        Proposal(kind, pattern, cluster, tuple(sorted(names)))
        for (kind, pattern, cluster), names in sorted(groups.items(), key=str)
    ]


def discover(client: Callable[[str], Any], region: str) -> list[Proposal]:
    """What the account has, read-only: buckets, tables, repositories, and each cluster's
    services, every page; InputError with the AWS error code when a listing is refused."""
    from policycheck.engine.discovery import list_names
    from policycheck.plugin.registry import load_registry
    from policycheck.plugin.resources import ListingScope

    types = load_registry().resource_types
    found: list[tuple[str, str, str | None]] = []
    try:
        for kind in DISCOVERED_TYPES:
            listing = types[kind].listing
            assert listing is not None, kind
            clusters: list[str | None] = [None]
            if kind == "ecs_service":
                pages = client("ecs").get_paginator("list_clusters").paginate()
                clusters = [arn.rsplit("/", 1)[-1] for p in pages for arn in p["clusterArns"]]
            for cluster in clusters:
                scope = ListingScope(region, parent=cluster or "")
                names = list_names(client, listing, scope)
                found += [(kind, name, cluster) for name in names]
    except ClientError as exc:
        code, message = aws_error(exc)
        raise InputError(f"init --discover: {code}: {message}") from None
    return propose(found)


def proposal_yaml(proposals: list[Proposal], region: str) -> str:
    """The proposals as the policy.yaml sections they would be, each resource marked for
    the user to confirm."""
    environments = sorted({env for p in proposals for _, env in p.found if env}) or ["prod"]
    lines = [
        "# Proposed by `policycheck init --discover` from what the account has: confirm each",
        "# resource (is it what your policy promises to protect?), then paste into policy.yaml.",
        "environments:",
        *(f"  {env}:\n    region: {region}" for env in environments),
        "resources:",
    ]
    checks: dict[str, list[str]] = {}
    for number, proposal in enumerate(proposals, 1):
        key = f"{proposal.type.split('_')[-1]}_{number}"
        names = ", ".join(name for name, _ in proposal.found)
        lines += [
            f"  {key}:  # confirm: found {names}",
            f"    type: {proposal.type}",
            f"    name: {json.dumps(proposal.name)}",
        ]
        if proposal.cluster:
            lines.append(f"    cluster: {json.dumps(proposal.cluster)}")
        checks.setdefault(DISCOVERED_TYPES[proposal.type], []).append(key)
    lines.append("checks:")
    for check, keys in checks.items():
        lines += [f"  - check: {check}  # confirm", f"    resources: [{', '.join(keys)}]"]
    return "\n".join(lines) + "\n"
