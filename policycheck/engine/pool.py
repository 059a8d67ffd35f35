"""Threads that never hold the run up: a pool of daemon threads, and a way to map a
function over items with it that stops waiting as soon as it is interrupted."""

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class DaemonPool:
    """A small thread pool whose threads are daemons: a run that reaches its deadline
    returns without waiting for calls in flight (an HTTP read may take 30 s, a retry
    20 s more), and the process can exit as soon as its report is written."""

    def __init__(self, max_workers: int, name: str = "fact") -> None:
        self._max_workers = max_workers
        self._name = name
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, work: Callable[[], Any]) -> Future[Any]:
        """Run ``work`` on a pool thread; RuntimeError once the pool is shut down."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            future: Future[Any] = Future()
            self._work.put((future, work))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return future

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            future, work = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
            self._idle.release()

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Stop taking work; cancel what has not started; join the threads if ``wait``."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        item = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            for _ in self._threads:
                self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


def concurrently(function: Callable[[T], R], items: Iterable[T], max_workers: int) -> list[R]:
    """``[function(item) for item in items]``, ``max_workers`` at a time. An exception (the
    first in item order) or an interruption (Ctrl-C, SIGTERM) is raised at once, abandoning
    the calls in flight: a throttled AWS call may take minutes."""
    items = list(items)
    if len(items) < 2:
        return [function(item) for item in items]
    pool = DaemonPool(max(1, min(max_workers, len(items))), name="concurrently")
    try:
        futures = [pool.submit(partial(function, item)) for item in items]
        results = [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results
