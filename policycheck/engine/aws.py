"""AWS sessions and clients: one session per environment, one client per service, shared by
every worker thread. Honours AWS_ENDPOINT_URL and --endpoint-url, s3control included."""

import logging
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ProfileNotFound,
)

from policycheck.deadline import (
    DEFAULT_ROLE_SESSION_SECONDS,
    NO_DEADLINE,
    Deadline,
    DeadlineReached,
)
from policycheck.errors import InputError, aws_error

log = logging.getLogger("policycheck.engine.aws")

#: Retries after the first attempt of every API call.
RETRY_ATTEMPTS = 8
#: The first call in each account (who am I?) fails fast when nothing listens at the
#: endpoint or the credentials are wrong; throttling and transient errors (an answer that
#: was cut, a timeout, a 5xx) are retried RETRY_ATTEMPTS times, within the deadline.
PROBE_RETRIES = 2
#: Waits between retries of the first call grow from this (full jitter), up to the max.
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 20.0
#: Error codes that mean "slow down", as botocore's standard retry mode reads them.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30

SessionFactory = Callable[[str], boto3.Session]


def default_session(region: str) -> boto3.Session:
    """A session from the standard credential chain (env, profile, SSO, instance role)."""
    return boto3.Session(region_name=region)


def client_config(
    max_workers: int, retries: int = RETRY_ATTEMPTS, from_environment: bool = True
) -> Config:
    """Retries in adaptive mode, bounded timeouts, a connection pool as wide as the workers.

    ``retries`` come after the first attempt; ``AWS_MAX_ATTEMPTS`` (the SDKs' standard
    setting, counting every attempt) and ``AWS_RETRY_MODE`` override the defaults, unless
    ``from_environment`` is false (the first call, which retries by itself).
    """
    configured = os.environ.get("AWS_MAX_ATTEMPTS", "").strip() if from_environment else ""
    if configured and not (configured.isdigit() and int(configured) >= 1):
        raise InputError(f"AWS_MAX_ATTEMPTS: expected a whole number >= 1, got {configured!r}")
    total_attempts = int(configured) if configured else 1 + retries
    retries_config: Any = {  # botocore's TypedDict wants a Literal mode; the value is checked there
        "total_max_attempts": total_attempts,
        "mode": os.environ.get("AWS_RETRY_MODE") or "adaptive",
    }
    return Config(
        retries=retries_config,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=max(10, max_workers),
    )


def configured_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint every call goes to: --endpoint-url, else AWS_ENDPOINT_URL, else AWS.
    InputError when it is not an http(s) URL."""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None:
        problem = endpoint_problem(endpoint)
        if problem:
            source = "--endpoint-url" if endpoint_url else "AWS_ENDPOINT_URL"
            raise InputError(f"{source}: {problem}")
    return endpoint


def endpoint_problem(url: str) -> str | None:
    """Why ``url`` cannot be an endpoint, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        return f"{url!r} is not a URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL, e.g. http://127.0.0.1:5000"
    return None


def keep_endpoint_host(endpoint_url: str) -> Callable[..., None]:
    """s3control's endpoint rules put the account id in front of the host
    (``123456789012.127.0.0.1:5000``), which cannot resolve on a local endpoint. Move the
    request back to the endpoint's host before it is signed; the account id still travels
    in the ``x-amz-account-id`` header."""
    endpoint_host = urlsplit(endpoint_url).netloc

    def rewrite(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != endpoint_host and parts.netloc.endswith("." + endpoint_host):
            request.url = urlunsplit(parts._replace(netloc=endpoint_host))

    return rewrite


def _log_call(model: Any, params: dict[str, Any], **_: Any) -> None:
    log.info("call %s.%s %s", model.service_model.service_name, model.name, params)


#: Guards client creation: every client is made from the run's one botocore session, so
#: service models load once, not once per account.
_CLIENT_LOCK = threading.Lock()


@dataclass(frozen=True)
class AwsSetup:
    """What every client of a run shares: the run's session (its own credentials), the
    endpoint, the client configuration, the deadline, and how roles are assumed."""

    session: boto3.Session
    endpoint_url: str | None
    config: Config
    deadline: Deadline = NO_DEADLINE
    role_session_seconds: int = DEFAULT_ROLE_SESSION_SECONDS
    #: The clock refreshable credentials judge expiry by (tests move it forward).
    clock: Callable[[], datetime] | None = None

    def client(
        self,
        service: str,
        region: str,
        session: boto3.Session | None = None,
        config: Config | None = None,
        credentials: dict[str, str] | None = None,
    ) -> Any:
        """A client of ``session`` (default: the run's own) with the run's settings;
        ``credentials`` instead of the session's own, if given."""
        return make_client(
            session or self.session,
            service,
            region,
            endpoint_url=self.endpoint_url,
            config=config or self.config,
            deadline=self.deadline,
            credentials=credentials,
        )


@dataclass(frozen=True)
class AccountAccess:
    """How the run reaches one account: its id, the caller there, and the credentials
    that reach it (an assumed role's, refreshing themselves; None: the run's own)."""

    account_id: str
    caller_arn: str
    credentials: DeferredRefreshableCredentials | None = None


class AccessFailed(Exception):
    """A role could not be assumed or an identity not read; carries the AWS code."""

    def __init__(self, code: str, message: str, unreachable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: AWS could not be reached at all (no answer), rather than refusing.
        self.unreachable = unreachable
        #: The role that could not be assumed, once known.
        self.role_arn = ""

    @property
    def transient(self) -> bool:
        """Throttling, a server error, no answer or the deadline: not a verdict on the
        credentials, so not a reason to stop the whole run."""
        return (
            self.unreachable
            or self.code in THROTTLING_CODES
            or self.code == DeadlineReached.code
            or self.code.startswith("5")
            or self.code in ("InternalError", "InternalFailure", "ServiceUnavailable")
        )


#: Clients a process keeps at once, across all its locations: about 0.3 MiB each, so an
#: organisation's hundreds of accounts would otherwise hold hundreds of MiB. The least
#: recently used is dropped first (a call in flight keeps its own); one needed again is
#: made again (3 ms alone, about 10 ms beside a run's busy threads: bench/organization.py).
MAX_LIVE_CLIENTS = 64


class LiveClients:
    """Every location's clients of a process in one least-recently-used order."""

    def __init__(self, limit: int = MAX_LIVE_CLIENTS) -> None:
        self.limit = limit
        self._order: OrderedDict[tuple[int, str], Connection] = OrderedDict()
        self._lock = threading.Lock()

    def used(self, connection: "Connection", service: str) -> None:
        """Note a use of a location's client; drop the least recent beyond the limit."""
        key = (id(connection), service)
        with self._lock:
            self._order[key] = connection
            self._order.move_to_end(key)
            while len(self._order) > self.limit:
                (_, dropped), owner = self._order.popitem(last=False)
                owner.drop_client(dropped)

    def __len__(self) -> int:
        return len(self._order)

    def reset(self) -> None:
        """Nothing live, and a new lock: in a forked child, before any call."""
        self._lock = threading.Lock()
        self._order = OrderedDict()


#: The process's clients (see LiveClients).
LIVE_CLIENTS = LiveClients()


@dataclass
class Connection:
    """One environment in one account and region: who the run is there, and the clients."""

    environment: str
    region: str
    access: AccountAccess
    setup: AwsSetup
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: The assumed role's session while the location has clients.
    _session: boto3.Session | None = None

    @property
    def account_id(self) -> str:
        return self.access.account_id

    @property
    def caller_arn(self) -> str:
        return self.access.caller_arn

    def forget_clients(self) -> None:
        """Drop the clients (and their connections): in a forked child, before any call."""
        self._lock = threading.Lock()
        self._clients = {}
        self._session = None

    def drop_client(self, service: str) -> None:
        """Let a client go (LiveClients keeps the process's number bounded), and the
        assumed role's session with the last one (about 140 KiB each)."""
        self._clients.pop(service, None)
        if not self._clients:
            self._session = None

    def client(self, service: str, live: LiveClients = LIVE_CLIENTS) -> Any:
        """The location's client for ``service``: made on first use, and again if
        ``live`` dropped it since."""
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                credentials, session = self.access.credentials, self._session
                if credentials is not None and session is None:
                    # a local: drop_client may clear the attribute meanwhile, and a client
                    # of the run's own session would reach another account
                    session = self._session = session_with(self.setup, self.region, credentials)
                client = self.setup.client(service, self.region, session)
                self._clients[service] = client
        live.used(self, service)
        return client


def make_client(
    session: boto3.Session,
    service: str,
    region: str,
    endpoint_url: str | None,
    config: Config,
    deadline: Deadline = NO_DEADLINE,
    credentials: dict[str, str] | None = None,
) -> Any:
    """A client with our retry/timeout config, call logging, the deadline, and the
    s3control host fix; ``credentials`` instead of the session's own, if given."""
    with _CLIENT_LOCK:
        given = credentials or {}
        client = session.client(
            service,  # type: ignore[call-overload]  # a service name known only at run time
            region_name=region,
            endpoint_url=endpoint_url or None,
            config=config,
            aws_access_key_id=given.get("aws_access_key_id"),
            aws_secret_access_key=given.get("aws_secret_access_key"),
            aws_session_token=given.get("aws_session_token"),
        )
    client.meta.events.register("before-call", _log_call)
    deadline.attach(client)
    if service == "s3control" and endpoint_url:
        client.meta.events.register("before-sign.s3-control", keep_endpoint_host(endpoint_url))
    return client


def open_session(session_factory: SessionFactory, region: str) -> boto3.Session:
    """The run's one session; InputError when its profile does not exist."""
    try:
        return session_factory(region)
    except ProfileNotFound as exc:
        raise InputError(f"{exc} (check AWS_PROFILE)") from None


def base_identity(setup: AwsSetup, region: str) -> AccountAccess:
    """Who the run's own credentials are. Raises InputError when there are none, the
    profile is unknown, or AWS cannot be reached: nothing else can work then."""
    try:
        return identify(setup, region)
    except ProfileNotFound as exc:
        raise InputError(f"{exc} (check AWS_PROFILE)") from None
    except NoCredentialsError:
        raise InputError(
            "no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or run in a role)"
        ) from None
    except AccessFailed as exc:
        if exc.unreachable:
            raise InputError(exc.message) from None
        raise InputError(f"the AWS credentials do not work: {exc}") from None


#: How botocore's credentials renew themselves from a source that lasts (instance or
#: container metadata, a credential process, a role assumed from a profile's keys):
#: their expiry does not bound a run. Any other credentials with an expiry (environment
#: variables with AWS_CREDENTIAL_EXPIRATION, an OIDC web identity token, SSO) end then.
RENEWING_CREDENTIALS = frozenset({"iam-role", "container-role", "custom-process", "assume-role"})


def credentials_last_the_deadline(setup: AwsSetup) -> None:
    """InputError naming the fix when the run's own credentials expire, unrenewed, before
    its deadline: every call after that (assumed roles cannot be refreshed past them
    either) would be an error. Credentials whose expiry botocore does not know pass."""
    remaining = setup.deadline.remaining()
    credentials = setup.session.get_credentials()
    expiry = getattr(credentials, "_expiry_time", None)  # botocore keeps it private
    method = getattr(credentials, "method", "")
    if remaining is None or not isinstance(expiry, datetime) or method in RENEWING_CREDENTIALS:
        return
    now = setup.clock() if setup.clock else datetime.now(UTC)
    life = (expiry - now).total_seconds()
    if life >= remaining:
        return
    raise InputError(
        f"--deadline {setup.deadline.label} is longer than the AWS credentials last: they "
        f"({method}) expire at {expiry.astimezone(UTC).isoformat(timespec='seconds')}, in "
        f"{max(0, int(life)) // 60} minutes, and cannot be renewed by this run. Give a "
        "shorter --deadline (or run.deadline), or credentials that last longer (e.g. "
        "role-duration-seconds of aws-actions/configure-aws-credentials)"
    )


class _NoCache(dict[str, Any]):
    """A credential cache that keeps nothing: DeferredRefreshableCredentials decides when
    to refresh, by the run's clock."""

    def __setitem__(self, key: str, value: Any) -> None:
        pass


def assumed_role_credentials(
    setup: AwsSetup, region: str, role_arn: str
) -> DeferredRefreshableCredentials:
    """Credentials that assume ``role_arn`` on first use and again before they expire
    (botocore refreshes 15 minutes ahead), from the run's own credentials, which may
    refresh themselves."""
    base = setup.session._session  # the run's botocore session
    fetcher = AssumeRoleCredentialFetcher(
        # The STS client of each refresh: the run's settings, deadline and call log.
        client_creator=lambda service, **credentials: setup.client(
            service, region, credentials=credentials
        ),
        source_credentials=base.get_credentials(),
        role_arn=role_arn,
        extra_args={
            "RoleSessionName": "policycheck",
            "DurationSeconds": setup.role_session_seconds,
        },
        cache=_NoCache(),
    )
    return DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials,
        method="assume-role",
        **({"time_fetcher": setup.clock} if setup.clock else {}),
    )


def session_with(
    setup: AwsSetup, region: str, credentials: DeferredRefreshableCredentials
) -> boto3.Session:
    """A session of these credentials, sharing the run's session's service models."""
    assumed = botocore.session.Session()
    assumed.register_component("data_loader", setup.session._session.get_component("data_loader"))
    # botocore has no public setter for a credentials object
    setattr(assumed, "_credentials", credentials)  # noqa: B010
    return boto3.Session(botocore_session=assumed, region_name=region)


def identify(setup: AwsSetup, region: str, role_arn: str | None = None) -> AccountAccess:
    """Assume ``role_arn`` if given (credentials that refresh), then read the caller
    identity. Throttling and transient errors are retried within the deadline; raises
    AccessFailed with the AWS code when the role or the identity cannot be had."""
    credentials = assumed_role_credentials(setup, region, role_arn) if role_arn else None
    session = session_with(setup, region, credentials) if credentials else None
    sts = setup.client("sts", region, session, client_config(1, retries=0, from_environment=False))
    try:
        identity = _retrying(sts.get_caller_identity, setup.deadline)
    except ClientError as exc:
        code, message = aws_error(exc)
        raise AccessFailed(code, f"{exc.operation_name}: {message}") from None
    except (ProfileNotFound, NoCredentialsError):
        raise
    except BotoCoreError as exc:
        raise AccessFailed(type(exc).__name__, f"cannot reach AWS: {exc}", True) from None
    except DeadlineReached as exc:
        raise AccessFailed(DeadlineReached.code, str(exc), True) from None
    except Exception as exc:  # an answer botocore cannot read: not AWS at that endpoint
        raise AccessFailed(
            "NotAnAwsAnswer",
            f"the endpoint's answer to GetCallerIdentity is not an AWS response "
            f"({type(exc).__name__}: {str(exc)[:80]}); check --endpoint-url",
            True,
        ) from None
    account, arn = identity.get("Account"), identity.get("Arn")
    if not (isinstance(account, str) and account.isdigit() and str(arn).startswith("arn:")):
        raise AccessFailed(
            "NotAnAwsAnswer",
            "the endpoint's answer to GetCallerIdentity names no account; check --endpoint-url",
            True,
        )
    return AccountAccess(account, str(arn), credentials)


def _retrying(
    call: Callable[[], dict[str, Any]],
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """``call()``, retried on throttling and 5xx answers (RETRY_ATTEMPTS times, full jitter
    backoff) and when no answer came (PROBE_RETRIES times), never sleeping past the
    deadline."""
    attempt = 0
    while True:
        try:
            return call()
        except (NoCredentialsError, ProfileNotFound):
            raise
        except (ClientError, BotoCoreError) as exc:
            if attempt >= _retries_for(exc):
                raise
        delay = random.uniform(0, min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**attempt))
        remaining = deadline.remaining()
        if remaining is not None and delay >= remaining:
            raise DeadlineReached(deadline.message)
        sleep(delay)
        attempt += 1


def _retries_for(exc: Exception) -> int:
    """How often the first call is retried after this failure."""
    if isinstance(exc, ClientError):
        code, _ = aws_error(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        transient = code in THROTTLING_CODES or status >= 500
        # AssumeRole inside refreshing credentials was retried by botocore already.
        return RETRY_ATTEMPTS if transient and exc.operation_name == "GetCallerIdentity" else 0
    return PROBE_RETRIES  # no answer at all: retried a little, then "cannot reach AWS"
