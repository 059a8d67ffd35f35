"""Run an audit: reach the locations, plan, judge every target as its facts arrive (each
fact read once), assemble the report. Usable as a library; the CLI is a thin layer over
it."""

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from policycheck.deadline import Deadline
from policycheck.engine.assembly import Audited, assemble, audited_reach
from policycheck.engine.aws import LIVE_CLIENTS, Connection, SessionFactory, default_session
from policycheck.engine.discovery import Discovery, DiscoveryFailed
from policycheck.engine.fetching import ClientsFor, ProgressCallback, ServiceCaps
from policycheck.engine.judging import Job, Judged, anything_to_judge, judge_run
from policycheck.engine.locations import Reach, Unreachable, Where, open_locations, where_of
from policycheck.engine.planning import (
    Scope,
    Selection,
    Unassessable,
    nothing_to_assess,
    resolve_with,
    why_no_results,
)
from policycheck.engine.pool import concurrently
from policycheck.errors import InputError
from policycheck.git import checkout_of
from policycheck.plugin.facts import Memo
from policycheck.plugin.resources import ResourceType
from policycheck.policy.bindings import ResourceInstance
from policycheck.policy.controls import Catalog
from policycheck.policy.load import Policy
from policycheck.report.model import Gap, Report
from policycheck.sources.repository.checkout import REPOSITORY, PlatformRepository
from policycheck.sources.repository.records import RECORD_STORE, RecordStore

#: Discovery listings made at once before planning.
DISCOVERY_WORKERS = 8


@dataclass(frozen=True)
class RunOptions:
    endpoint_url: str | None = None
    max_workers: int = 16
    #: In-flight calls per service in one account and region (``"*"``: every service).
    service_caps: ServiceCaps | None = None
    #: Audit every account of the AWS Organization through this role (``run --org``).
    org_role: str | None = None
    #: Processes that fetch facts (None: by the run's size and the cores, see processes).
    processes: int | None = None
    session_factory: SessionFactory = default_session
    progress: ProgressCallback | None = None
    #: Seconds from the start after which no AWS call starts; None: the policy's
    #: ``run.deadline``.
    deadline_seconds: float | None = None
    #: The clock assumed-role credentials judge their expiry by (tests move it).
    credentials_clock: Callable[[], datetime] | None = None
    #: The accounts are simulated (``policycheck demo``): the report says so.
    simulated: bool = False


def run_audit(
    policy: Policy, catalog: Catalog, selection: Selection, options: RunOptions | None = None
) -> Report:
    """Reach each selected location, collect facts once, evaluate every target."""
    options = options or RunOptions()
    if not Scope.as_written(policy, catalog, selection).targets():  # nothing bound: say so
        raise InputError(nothing_to_assess(policy, catalog, selection))
    started = datetime.now(UTC)
    settings = policy.document.run
    deadline = Deadline.after(options.deadline_seconds or settings.deadline_seconds)
    reach = open_locations(
        policy,
        selection.environments,
        endpoint_url=options.endpoint_url,
        max_workers=options.max_workers,
        session_factory=options.session_factory,
        org_role=options.org_role,
        shard=selection.shard,
        deadline=deadline,
        role_session_seconds=settings.role_session_seconds,
        clock=options.credentials_clock,
    )
    located = Located(policy, reach)
    located.discover_all()
    clients_for, forget_clients = located.clients()
    job = Job(
        scope=Scope(policy, catalog, selection, tuple(located.locations), located.resolve),
        clients_for=clients_for,
        started=started,
        waivers=[w for w in policy.document.waivers if w.environment in selection.environments],
        deadline=deadline,
        max_workers=options.max_workers,
        service_caps=options.service_caps,
        processes=options.processes,
        progress=options.progress,
        forget_clients=forget_clients,
        memo=located.memo,
    )
    if not anything_to_judge(job):
        gaps = [Gap(environment=u.environment, reason=u.reason) for u in reach.uncovered]
        raise InputError(nothing_to_assess(policy, catalog, selection, gaps))
    judged = judge_run(job)  # results sorted: two runs over the same state differ in timestamps
    return _report(job, reach, judged, options.simulated)


def _report(job: Job, reach: Reach, judged: Judged, simulated: bool) -> Report:
    """The run's report: its results (on disk) and their evidence values, controls and
    summary assessed on the tally."""
    environments, gaps = audited_reach(reach)
    audited = Audited(
        scope=job.scope,
        checkout=checkout_of(job.scope.policy.path.resolve().parent),
        input_sha256=job.scope.input_sha256(),
        environments=environments,
        gaps=gaps,
        no_results=why_no_results(job.scope, {e.name for e in environments}),
        started=job.started,
        finished=datetime.now(UTC),
        results=judged.results,
        counted=judged.tally.stand_in(),
        values=judged.values,
        waivers=judged.waivers,
        deadline=job.deadline.label,
        occupied_shards=reach.occupied_shards,
        simulated=simulated,
    )
    return assemble(audited)


class Located:
    """The locations a run reached: their clients, and resource groups resolved there
    (patterns listed once per account, region and scope)."""

    def __init__(self, policy: Policy, reach: Reach) -> None:
        self.policy = policy
        self.locations = {where_of(c): c for c in reach.locations}
        self.connections: dict[tuple[str, str], Connection] = {}
        for connection in reach.locations:
            if isinstance(connection, Connection):
                location = (connection.account_id, connection.region)
                self.connections.setdefault(location, connection)
        #: The run's memo: discovery's listings leave there what their answers say of
        #: the resources (a bucket's region), for the facts.
        self.memo = Memo()
        self.discovery = Discovery(self.memo)

    def resolve(self, group: str, where: Where) -> list[ResourceInstance]:
        """A group's resources in a location: names as written, patterns listed (one
        that matches nothing comes back as it is); Unassessable when it cannot be told."""
        connection = self.locations[where]
        if isinstance(connection, Unreachable):
            failure = connection.failure
            raise Unassessable(
                failure.code,
                f"could not reach account {where.account_id} through {connection.role_arn}: "
                f"{failure}",
            )

        def listed(kind: ResourceType, pattern: str, parent: str) -> list[str]:
            try:
                return self.discovery.names(
                    (where.account_id, where.region), connection.client, kind, pattern, parent
                )
            except DiscoveryFailed as failure:
                raise Unassessable(
                    failure.code, f"could not discover resources matching {pattern!r}: {failure}"
                ) from None

        return resolve_with(self.policy, group, where, listed)

    def discover_all(self) -> None:
        """Make the discovery listings in parallel (each is then read from its cache)."""
        policy = self.policy
        work = [
            (group, where)
            for where in self.locations
            for group in dict.fromkeys(
                group
                for binding in policy.bindings
                if binding.applies_in(where.environment)
                for group in binding.resource_groups
                if policy.is_discovered(group, where.environment)
            )
        ]

        def warm(item: tuple[str, Where]) -> None:
            with suppress(Unassessable):
                self.resolve(*item)

        concurrently(warm, work, DISCOVERY_WORKERS)

    def clients(self) -> tuple[ClientsFor, Callable[[], None]]:
        """The clients of each location (the drill records' store and the platform repository
        for local facts), and how to forget them (a forked process makes its own
        connections)."""
        local = {
            RECORD_STORE: RecordStore(self.policy.records_dir, self.policy.repository),
            REPOSITORY: PlatformRepository(self.policy.repository),
        }
        connections = self.connections

        def clients_for(location: tuple[str, str]) -> Callable[[str], Any]:
            def client(service: str) -> Any:
                return local[service] if service in local else connections[location].client(service)

            return client

        def forget_clients() -> None:
            LIVE_CLIENTS.reset()
            for connection in connections.values():
                connection.forget_clients()

        return clients_for, forget_clients
