"""WSGI middleware that makes chosen API operations fail, as AWS would answer them."""

import io
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

#: S3 bucket sub-resources (query keys) and the GET operation each selects.
S3_GET_OPERATIONS = {
    "versioning": "GetBucketVersioning",
    "encryption": "GetBucketEncryption",
    "publicAccessBlock": "GetPublicAccessBlock",
    "lifecycle": "GetBucketLifecycleConfiguration",
    "policy": "GetBucketPolicy",
}


def operation_of(environ: dict[str, Any]) -> str:
    """The API operation a request calls (enough of it for the services we read)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if environ.get("REQUEST_METHOD") == "GET":
        for key, operation in S3_GET_OPERATIONS.items():
            if key in query:
                return operation
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        # Query protocol (IAM, STS): the action is in the form body; put the body back.
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode(), keep_blank_values=True)
        if "Action" in form:
            return form["Action"][0]
    return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


@dataclass
class Fault:
    operation: str
    code: str
    status: int
    #: How many matching requests fail; None = all of them.
    times: int | None = None
    #: Only requests whose path contains this string (e.g. a bucket name).
    path_contains: str = ""


@dataclass
class FaultInjector:
    """Holds the faults to inject and counts requests per operation."""

    faults: list[Fault] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.injected.clear()
            self.requests.clear()

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
                if fault.times is not None and self.injected[operation] >= fault.times:
                    continue
                self.injected[operation] += 1
                return fault
        return None

    def middleware(self, app: Any) -> Any:
        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            fault = self._match(environ)
            if fault is None:
                return app(environ, start_response)
            if environ.get("HTTP_X_AMZ_TARGET"):
                body = json.dumps({"__type": fault.code, "message": f"injected {fault.code}"})
                content_type = "application/x-amz-json-1.0"
            else:
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?><Error>'
                    f"<Code>{fault.code}</Code><Message>injected {fault.code}</Message></Error>"
                )
                content_type = "application/xml"
            start_response(f"{fault.status} Injected", [("Content-Type", content_type)])
            return [body.encode()]

        return wrapped
