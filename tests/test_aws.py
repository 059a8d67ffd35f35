import pytest

from policycheck.aws import client_config, keep_endpoint_host
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
