"""A moto server on loopback, for the demo, the tests and the benchmarks.

Like ``moto.server.ThreadedMotoServer``, but the WSGI app can be wrapped (to inject
latency, throttling or AccessDenied) and it always binds 127.0.0.1 on a free port.
"""

import io
import logging
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

WsgiApp = Callable[..., Any]
Middleware = Callable[[WsgiApp], WsgiApp]


#: S3 bucket sub-resources (query keys) and the GET operation each selects.
S3_GET_OPERATIONS = {
    "versioning": "GetBucketVersioning",
    "encryption": "GetBucketEncryption",
    "publicAccessBlock": "GetPublicAccessBlock",
    "lifecycle": "GetBucketLifecycleConfiguration",
    "policy": "GetBucketPolicy",
    "location": "GetBucketLocation",
}


def operation_of(environ: dict[str, Any]) -> str:
    """The API operation a request calls (enough of it for the services we read)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if environ.get("REQUEST_METHOD") == "GET":
        for key, operation in S3_GET_OPERATIONS.items():
            if key in query:
                return operation
        if environ.get("PATH_INFO") == "/":  # S3's service root: no bucket in the path
            return "ListBuckets"
    if environ.get("REQUEST_METHOD") == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if "Action" in query:
        return str(query["Action"][0])
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        # Query protocol (IAM, STS): the action is in the form body; put the body back.
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode(), keep_blank_values=True)
        if "Action" in form:
            return str(form["Action"][0])
    return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


class MotoNotInstalled(RuntimeError):
    pass


@contextmanager
def moto_server(middleware: Middleware | None = None) -> Iterator[str]:
    """Run moto on ``127.0.0.1`` (a free port) in a thread; yield its endpoint URL."""
    try:
        from moto.server import (  # type: ignore[attr-defined]
            DomainDispatcherApplication,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError as exc:
        raise MotoNotInstalled("the demo needs moto: pip install 'policycheck[demo]'") from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    if middleware is not None:
        app = middleware(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()


def reset(endpoint_url: str) -> None:
    """Forget every resource the server holds."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
