"""A moto server on loopback, for the demo, the tests and the benchmarks.

Like ``moto.server.ThreadedMotoServer``, but the WSGI app can be wrapped (to inject
latency, throttling or AccessDenied) and it always binds 127.0.0.1 on a free port.
"""

import logging
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

WsgiApp = Callable[..., Any]
Middleware = Callable[[WsgiApp], WsgiApp]


class MotoNotInstalled(RuntimeError):
    pass


@contextmanager
def moto_server(middleware: Middleware | None = None) -> Iterator[str]:
    """Run moto on ``127.0.0.1`` (a free port) in a thread; yield its endpoint URL."""
    try:
        from moto.server import DomainDispatcherApplication, create_backend_app
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
