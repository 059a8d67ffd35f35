"""AWS sessions and clients: one session per environment, one client per service, shared by
every worker thread. Honours AWS_ENDPOINT_URL and --endpoint-url, s3control included."""

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from policycheck.errors import InputError, aws_error

log = logging.getLogger("policycheck.aws")

#: Retries after the first attempt of every API call.
RETRY_ATTEMPTS = 8
#: The first call of a run (who am I?) fails fast when the endpoint is unreachable or the
#: credentials are wrong, instead of backing off 8 times.
PROBE_RETRIES = 2
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30

SessionFactory = Callable[[str], boto3.Session]


def default_session(region: str) -> boto3.Session:
    """A session from the standard credential chain (env, profile, SSO, instance role)."""
    return boto3.Session(region_name=region)


def client_config(max_workers: int, retries: int = RETRY_ATTEMPTS) -> Config:
    """Retries in adaptive mode, bounded timeouts, a connection pool as wide as the workers.

    ``retries`` come after the first attempt; ``AWS_MAX_ATTEMPTS`` (the SDKs' standard
    setting, counting every attempt) and ``AWS_RETRY_MODE`` override the defaults.
    """
    configured = os.environ.get("AWS_MAX_ATTEMPTS", "").strip()
    if configured and not (configured.isdigit() and int(configured) >= 1):
        raise InputError(f"AWS_MAX_ATTEMPTS: expected a whole number >= 1, got {configured!r}")
    total_attempts = int(configured) if configured else 1 + retries
    return Config(
        retries={
            "total_max_attempts": total_attempts,
            "mode": os.environ.get("AWS_RETRY_MODE") or "adaptive",
        },
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=max(10, max_workers),
    )


def configured_endpoint(endpoint_url: str | None) -> str | None:
    """The endpoint every call goes to: --endpoint-url, else AWS_ENDPOINT_URL, else AWS."""
    return endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None


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
class AccountAccess:
    """How the run reaches one account: its id, the caller there, and the credentials
    (None: the base credentials of the run's session)."""

    account_id: str
    caller_arn: str
    credentials: dict[str, str] | None = None


class AccessFailed(Exception):
    """A role could not be assumed or an identity not read; carries the AWS code."""

    def __init__(self, code: str, message: str, unreachable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: AWS could not be reached at all (no answer), rather than refusing.
        self.unreachable = unreachable


@dataclass
class Connection:
    """One environment in one account and region: who the run is there, and the clients."""

    environment: str
    region: str
    access: AccountAccess
    session: boto3.Session
    endpoint_url: str | None
    config: Config
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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

    def client(self, service: str) -> Any:
        """The location's one client for ``service`` (created on first use)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = make_client(
                    self.session,
                    service,
                    self.region,
                    self.endpoint_url,
                    self.config,
                    self.access.credentials,
                )
            return self._clients[service]


def make_client(
    session: boto3.Session,
    service: str,
    region: str,
    endpoint_url: str | None,
    config: Config,
    credentials: dict[str, str] | None = None,
) -> Any:
    """A client with our retry/timeout config, call logging, and the s3control host fix."""
    with _CLIENT_LOCK:
        client = session.client(
            service,
            region_name=region,
            endpoint_url=endpoint_url or None,
            config=config,
            **(credentials or {}),
        )
    client.meta.events.register("before-call", _log_call)
    if service == "s3control" and endpoint_url:
        client.meta.events.register("before-sign.s3-control", keep_endpoint_host(endpoint_url))
    return client


def open_session(session_factory: SessionFactory, region: str) -> boto3.Session:
    """The run's one session; InputError when its profile does not exist."""
    try:
        return session_factory(region)
    except ProfileNotFound as exc:
        raise InputError(f"{exc} (check AWS_PROFILE)") from None


def base_identity(session: boto3.Session, region: str, endpoint_url: str | None) -> AccountAccess:
    """Who the run's own credentials are. Raises InputError when there are none, the
    profile is unknown, or AWS cannot be reached: nothing else can work then."""
    try:
        return identify(session, region, endpoint_url)
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


def identify(
    session: boto3.Session,
    region: str,
    endpoint_url: str | None,
    role_arn: str | None = None,
) -> AccountAccess:
    """Assume ``role_arn`` if given, then read the caller identity (fast: few retries).
    Raises AccessFailed with the AWS code when either call fails."""
    probe_config = client_config(1, retries=PROBE_RETRIES)
    try:
        credentials = None
        if role_arn:
            sts = make_client(session, "sts", region, endpoint_url, probe_config)
            answer = sts.assume_role(RoleArn=role_arn, RoleSessionName="policycheck")
            credentials = {
                "aws_access_key_id": answer["Credentials"]["AccessKeyId"],
                "aws_secret_access_key": answer["Credentials"]["SecretAccessKey"],
                "aws_session_token": answer["Credentials"]["SessionToken"],
            }
        sts = make_client(session, "sts", region, endpoint_url, probe_config, credentials)
        identity = sts.get_caller_identity()
    except ClientError as exc:
        code, message = aws_error(exc)
        raise AccessFailed(code, f"{exc.operation_name}: {message}") from None
    except (ProfileNotFound, NoCredentialsError):
        raise
    except BotoCoreError as exc:
        raise AccessFailed(type(exc).__name__, f"cannot reach AWS: {exc}", True) from None
    return AccountAccess(identity["Account"], identity["Arn"], credentials)
