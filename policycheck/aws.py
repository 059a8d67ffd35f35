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

from policycheck.errors import InputError
from policycheck.policy import EnvironmentConfig

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


@dataclass
class Connection:
    """An environment's AWS session, identity and shared clients."""

    environment: str
    region: str
    account_id: str
    caller_arn: str
    session: boto3.Session
    endpoint_url: str | None
    config: Config
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, service: str) -> Any:
        """The environment's one client for ``service`` (created on first use)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = make_client(
                    self.session, service, self.region, self.endpoint_url, self.config
                )
            return self._clients[service]


def make_client(
    session: boto3.Session, service: str, region: str, endpoint_url: str | None, config: Config
) -> Any:
    """A client with our retry/timeout config, call logging, and the s3control host fix."""
    client = session.client(
        service, region_name=region, endpoint_url=endpoint_url or None, config=config
    )
    client.meta.events.register("before-call", _log_call)
    if service == "s3control" and endpoint_url:
        client.meta.events.register("before-sign.s3-control", keep_endpoint_host(endpoint_url))
    return client


def connect(
    name: str,
    environment: EnvironmentConfig,
    *,
    endpoint_url: str | None,
    max_workers: int,
    session_factory: SessionFactory = default_session,
) -> Connection:
    """Open an environment: assume its role if any, read the caller identity and check the
    account id. Raises InputError when the environment cannot be reached as configured."""
    endpoint_url = configured_endpoint(endpoint_url)
    config = client_config(max_workers)
    probe_config = client_config(1, retries=PROBE_RETRIES)
    where = f"environment {name!r}"
    try:
        session = session_factory(environment.region)
        if environment.role_arn:
            sts = make_client(session, "sts", environment.region, endpoint_url, probe_config)
            credentials = sts.assume_role(
                RoleArn=environment.role_arn, RoleSessionName="policycheck"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=environment.region,
            )
        sts = make_client(session, "sts", environment.region, endpoint_url, probe_config)
        identity = sts.get_caller_identity()
    except ProfileNotFound as exc:
        raise InputError(f"{where}: {exc} (check AWS_PROFILE)") from None
    except NoCredentialsError:
        raise InputError(
            f"{where}: no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or run in a role)"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise InputError(
            f"{where}: {exc.operation_name} failed: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:
        raise InputError(f"{where}: cannot reach AWS: {exc}") from None
    if environment.account_id and identity["Account"] != environment.account_id:
        raise InputError(
            f"{where}: credentials are for account {identity['Account']}, but the policy "
            f"says environments.{name}.account_id is {environment.account_id}"
        )
    return Connection(
        environment=name,
        region=environment.region,
        account_id=identity["Account"],
        caller_arn=identity["Arn"],
        session=session,
        endpoint_url=endpoint_url,
        config=config,
    )
