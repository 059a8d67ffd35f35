import boto3
import pytest
from botocore.credentials import DeferredRefreshableCredentials

from policycheck.engine.aws import (
    AccountAccess,
    AwsSetup,
    Connection,
    LiveClients,
    client_config,
    keep_endpoint_host,
)
from policycheck.errors import InputError


def test_default_retries_are_adaptive_with_at_least_8_attempts() -> None:
    config = client_config(16)
    assert config.retries == {"total_max_attempts": 9, "mode": "adaptive"}
    assert config.connect_timeout and config.read_timeout
    assert config.max_pool_connections >= 16


def test_standard_sdk_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "12")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    assert client_config(4).retries == {"total_max_attempts": 12, "mode": "standard"}


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_bad_max_attempts_is_an_input_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", value)
    with pytest.raises(InputError, match="AWS_MAX_ATTEMPTS"):
        client_config(4)


class _Request:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "http://123456789012.127.0.0.1:5000/v20180820/configuration/publicAccessBlock",
            "http://127.0.0.1:5000/v20180820/configuration/publicAccessBlock",
        ),
        ("http://127.0.0.1:5000/v20180820/x", "http://127.0.0.1:5000/v20180820/x"),
        ("http://123456789012.other-host:5000/x", "http://123456789012.other-host:5000/x"),
    ],
)
def test_s3control_request_moves_back_to_the_endpoint_host(before: str, after: str) -> None:
    request = _Request(before)
    keep_endpoint_host("http://127.0.0.1:5000")(request)
    assert request.url == after


def _location(account_id: str, setup: AwsSetup) -> Connection:
    """A location whose credentials are an assumed role's (here: fixed keys)."""
    credentials = DeferredRefreshableCredentials(
        refresh_using=lambda: {
            "access_key": f"key-{account_id}",
            "secret_key": "testing",
            "token": "t",
            "expiry_time": "2999-01-01T00:00:00Z",
        },
        method="assume-role",
    )
    return Connection("prod", "eu-central-1", AccountAccess(account_id, "arn", credentials), setup)


def test_a_process_keeps_a_bounded_number_of_clients() -> None:
    """Hundreds of accounts do not each keep their clients (about 0.3 MiB each) and session
    for the whole run: the least recently used go first, and come back when needed, with
    their own account's credentials."""
    setup = AwsSetup(
        boto3.Session(aws_access_key_id="base", aws_secret_access_key="testing"),
        "http://127.0.0.1:9",
        client_config(2),
    )
    live = LiveClients(limit=3)
    first, second = _location("111111111111", setup), _location("222222222222", setup)
    s3 = first.client("s3", live)
    assert first.client("s3", live) is s3  # one client per location and service
    first.client("dynamodb", live)
    second.client("s3", live)
    assert len(live) == 3
    second.client("ecr", live)  # the fourth: the least recently used (first's s3) goes
    assert len(live) == 3 and set(first._clients) == {"dynamodb"}
    assert first._session is not None
    second.client("dynamodb", live)  # first's last client goes, and its session with it
    assert first._clients == {} and first._session is None
    again = first.client("s3", live)
    assert again is not s3
    assert again._request_signer._credentials.get_frozen_credentials().access_key == (
        "key-111111111111"
    )
