"""Replay: moto's recorded answers served from memory by a small asyncio HTTP server in a
process of its own, so that the server costs next to nothing (tens of microseconds a
request, off the measured tool's GIL) and only the latency remains. moto's own server,
werkzeug's threads included, spends about a millisecond of CPU on every request, which
would set the pace instead of the latency."""

import asyncio
import hashlib
import multiprocessing
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import unquote

#: key -> (status line, headers, body)
Recording = dict[str, tuple[str, list[tuple[str, str]], bytes]]
Answer = tuple[str, list[tuple[str, str]], bytes]
#: (method, path, query, X-Amz-Target, body) -> an answer made up on the spot, or None:
#: the recording answers (bench/fleet.py's synthetic fleet).
Synthesizer = Callable[[str, str, str, str, bytes], Answer | None]
#: Headers the replay server sets itself.
HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "date", "server"}


def request_key(method: str, path: str, query: str, target: str, body: bytes) -> str:
    """What identifies a request across runs (not its date or signature)."""
    return "|".join([method, path, query, target, hashlib.sha256(body).hexdigest()])


async def _serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    recording: Recording,
    latency_s: float,
    counters: "Counters",
    synthesize: Synthesizer | None,
) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while request_line := await reader.readline():
            method, target, _ = request_line.decode("latin-1").split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            path, _, query = target.partition("?")
            target = headers.get("x-amz-target", "")
            path = unquote(path)
            await asyncio.sleep(latency_s)
            with counters.served.get_lock():
                counters.served.value += 1
            answer = synthesize(method, path, query, target, body) if synthesize else None
            answer = answer or recording.get(request_key(method, path, query, target, body))
            if answer is None:
                with counters.misses.get_lock():
                    counters.misses.value += 1
                answer = ("500 Not Recorded", [], b"not recorded")
            status, answer_headers, payload = answer
            head = [f"HTTP/1.1 {status}"] + [
                f"{name}: {value}"
                for name, value in answer_headers
                if name.lower() not in HOP_HEADERS
            ]
            head.append(f"Content-Length: {len(payload)}")
            # One write per answer: a second small segment would wait for the client's
            # delayed ACK (40 ms) under Nagle's algorithm.
            writer.write(
                ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
                + (payload if method != "HEAD" else b"")
            )
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class Counters:
    """Requests served and requests that were not recorded (a valid benchmark keeps
    ``misses`` at 0), shared with the replay process."""

    def __init__(self, context: "multiprocessing.context.BaseContext") -> None:
        self.served = context.Value("q", 0)
        self.misses = context.Value("q", 0)

    def reset(self) -> None:
        self.served.value = self.misses.value = 0


def _run(
    listener: socket.socket,
    recording: Recording,
    latency_s: float,
    counters: Counters,
    synthesize: Synthesizer | None,
) -> None:
    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _serve_connection(r, w, recording, latency_s, counters, synthesize),
            sock=listener,
            backlog=1024,
        )
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextmanager
def replay_server(
    recording: Recording, latency_s: float, synthesize: Synthesizer | None = None
) -> Iterator[tuple[str, Counters]]:
    """Serve ``recording`` (and what ``synthesize`` makes up) on loopback; yield the
    endpoint URL and the counters of requests served and not recorded."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    context = multiprocessing.get_context("fork")
    counters = Counters(context)
    process = context.Process(
        target=_run,
        args=(listener, dict(recording), latency_s, counters, synthesize),
        daemon=True,
    )
    process.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", counters
    finally:
        process.terminate()
        process.join()
        listener.close()
