"""WSGI middleware that makes chosen API operations fail, as AWS would answer them."""

import io
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from policycheck.demo.server import operation_of


@dataclass
class Fault:
    operation: str
    code: str
    status: int
    #: How many matching requests fail; None = all of them.
    times: int | None = None
    #: Only requests whose path contains this string (e.g. a bucket name).
    path_contains: str = ""
    #: Only requests whose form body contains this string (query protocol: STS, IAM).
    body_contains: str = ""
    #: Only requests signed with credentials whose access key id is this one.
    access_key: str = ""
    #: The JSON answer to send instead of an error (``status`` should then be 200).
    answer: str = ""


@dataclass
class FaultInjector:
    """Holds the faults to inject and counts requests per operation."""

    faults: list[Fault] = field(default_factory=list)
    #: Seconds every request waits (a slow endpoint).
    delay: float = 0.0
    injected: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    #: Requests in flight per service now, and the most ever in flight at once.
    in_flight: Counter[str] = field(default_factory=Counter)
    peak: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.delay = 0.0
            self.injected.clear()
            self.requests.clear()
            self.peak.clear()

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def _match(self, environ: dict[str, Any]) -> Fault | None:
        operation = operation_of(environ)
        with self.lock:
            self.requests[operation] += 1
            for fault in self.faults:
                if fault.operation != operation:
                    continue
                if fault.path_contains and fault.path_contains not in environ.get("PATH_INFO", ""):
                    continue
                if fault.body_contains and fault.body_contains not in _form_body(environ):
                    continue
                if fault.access_key and f"Credential={fault.access_key}/" not in environ.get(
                    "HTTP_AUTHORIZATION", ""
                ):
                    continue
                if fault.times is not None and self.injected[operation] >= fault.times:
                    continue
                self.injected[operation] += 1
                return fault
        return None

    def _enter(self, service: str) -> None:
        with self.lock:
            self.in_flight[service] += 1
            self.peak[service] = max(self.peak[service], self.in_flight[service])

    def _leave(self, service: str) -> None:
        with self.lock:
            self.in_flight[service] -= 1

    def middleware(self, app: Any) -> Any:
        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            service = _service_of(environ)
            self._enter(service)
            try:
                return respond(environ, start_response)
            finally:
                self._leave(service)

        def respond(environ: dict[str, Any], start_response: Any) -> Any:
            fault = self._match(environ)  # counted on arrival, before any delay
            if self.delay:
                time.sleep(self.delay)
            if fault is None:
                return app(environ, start_response)
            if fault.answer:
                start_response(
                    f"{fault.status} OK", [("Content-Type", "application/x-amz-json-1.1")]
                )
                return [fault.answer.encode()]
            if environ.get("HTTP_X_AMZ_TARGET"):
                body = json.dumps({"__type": fault.code, "message": f"injected {fault.code}"})
                content_type = "application/x-amz-json-1.0"
            else:
                error = f"<Error><Code>{fault.code}</Code><Message>injected {fault.code}</Message>"
                if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
                    error = f"<ErrorResponse>{error}<Type>Sender</Type></Error></ErrorResponse>"
                else:  # REST-XML (S3)
                    error += "</Error>"
                body = '<?xml version="1.0" encoding="UTF-8"?>' + error
                content_type = "application/xml"
            start_response(f"{fault.status} Injected", [("Content-Type", content_type)])
            return [body.encode()]

        return wrapped


def _form_body(environ: dict[str, Any]) -> str:
    """A query-protocol request's body (operation_of has buffered it)."""
    stream = environ.get("wsgi.input")
    return stream.getvalue().decode("utf-8", "replace") if isinstance(stream, io.BytesIO) else ""


def _service_of(environ: dict[str, Any]) -> str:
    """The service a request is signed for (``.../eu-central-1/s3/aws4_request``)."""
    match = re.search(
        r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", "")
    )
    return match.group(1) if match else "unsigned"
