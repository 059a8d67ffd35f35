"""WSGI middleware that makes chosen API operations fail, as AWS would answer them."""

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from policycheck.mockaws import operation_of


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
    #: Seconds every request waits (a slow endpoint).
    delay: float = 0.0
    injected: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.delay = 0.0
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
            if self.delay:
                time.sleep(self.delay)
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
