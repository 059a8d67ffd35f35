"""The fixtures every test may ask for; what they hand out is in tests/support/harness.py."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policycheck.demo.server import moto_server
from policycheck.paths import controls_dir_for
from policycheck.policy.controls import Catalog, load_catalog
from policycheck.policy.load import Policy, load_policy
from support.faults import FaultInjector
from support.harness import (
    POLICY_PATH,
    Call,
    MotoServer,
    RecordedRun,
    Workspace,
    new_workspace,
    without_real_aws,
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """How `make test` (``-n auto --dist loadgroup --no-loadscope-reorder``) spreads the
    tests over its workers: by group, a group's tests all on one worker, so that a
    module-scoped set-up (a demo run, a seeded world, a Terraform apply) is built once.
    A module's tests are one group unless they name their own with ``xdist_group`` (a
    module with a long shared set-up splits its tests by what they share). The named
    groups are the long ones: they are collected, and so handed out, first, so that
    none of them is the last to start and ends the run alone. Without ``-n`` the order
    of the modules is all this changes."""
    named = {item.nodeid for item in items if item.get_closest_marker("xdist_group")}
    for item in items:
        if item.nodeid not in named:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items.sort(key=lambda item: item.nodeid not in named)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    without_real_aws(monkeypatch)


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(POLICY_PATH)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(controls_dir_for(POLICY_PATH))


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[MotoServer]:
    faults = FaultInjector()
    with moto_server(faults.middleware) as url:
        yield MotoServer(url, faults)


@pytest.fixture
def moto(_moto_server: MotoServer) -> MotoServer:
    """A moto server on loopback, empty and without faults at the start of each test."""
    _moto_server.empty()
    return _moto_server


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return new_workspace(tmp_path)


@pytest.fixture(scope="session")
def recorded_full_run(
    _moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> RecordedRun:
    """One in-process run of every check (cross-region replication bound too) over a
    compliant seeded account, with every API call it made: the IAM and collector tests
    read it instead of each running the whole policy."""
    from policycheck.demo.seeding import demo_session, seed
    from policycheck.engine.planning import select
    from policycheck.engine.runner import RunOptions, run_audit

    space = new_workspace(tmp_path_factory.mktemp("recorded"))
    space.edit(
        lambda d: d["checks"].append(
            {"check": "s3-cross-region-replication", "resources": ["audit_bucket"]}
        )
    )
    _moto_server.empty()
    policy = space.policy
    catalog = load_catalog(space.directory / "controls")
    seed(policy, _moto_server.url)
    calls: list[Call] = []

    def record(model: Any, params: dict, **_: object) -> None:
        service = model.service_model
        calls.append(Call(service.service_name, service.signing_name, model.name, params))

    session = demo_session("eu-central-1")
    session.events.register("before-parameter-build", record)
    report = run_audit(
        policy,
        catalog,
        select(policy, catalog),
        RunOptions(endpoint_url=_moto_server.url, session_factory=lambda region: session),
    )
    _moto_server.empty()
    return RecordedRun(report, calls)
