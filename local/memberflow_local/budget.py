"""Real-time budgets of the local stack: a Lambda function's ``Timeout`` and API
Gateway's 29 s integration timeout (docs/local-stack.md).

An invocation runs in its caller's thread (the handler is in-process). When its budget
has passed, one watchdog thread raises :class:`Ended` inside that thread (an
asynchronous exception, delivered at the next bytecode): the handler stops where it is,
as Lambda stops a function that overruns. The watchdog holds the DynamoDB emulator's
lock while it does so, so the exception never lands inside a DynamoDB request, which
DynamoDB applies whole even when its caller is killed. A handler blocked in one long C
call is ended when that call returns.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time

from memberflow_local import dynamodb


class LambdaTimeout(Exception):
    """The invocation overran its function's Timeout and was ended (as Lambda does)."""

    error_type = "Sandbox.Timedout"

    def __init__(self, request_id: str, timeout_seconds: float):
        self.timeout_seconds = timeout_seconds
        super().__init__(
            f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds"
        )


class Ended(BaseException):
    """Raised inside an overrunning handler. A BaseException: handler code that catches
    ``Exception`` must not survive its own timeout."""


class _Watchdog:
    """One thread for every deadline (a Timer thread per invocation costs ~150 us)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="memberflow-lambda-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][2].done:
                    if self._heap:
                        heapq.heappop(self._heap)
                        continue
                    self._cond.wait()
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(timeout=wait)
                    continue
                heapq.heappop(self._heap)
            deadline.fire()


_watchdog = _Watchdog()


class Deadline:
    """``with Deadline(seconds):`` ends the calling thread's work after ``seconds``."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.thread = threading.get_ident()
        self.guard = threading.Lock()
        self.done = False
        self.fired = False

    def fire(self) -> None:
        with dynamodb.write_lock(), self.guard:
            if self.done:
                return
            self.fired = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread), ctypes.py_object(Ended)
            )

    def __enter__(self) -> Deadline:
        _watchdog.arm(self)
        return self

    def __exit__(self, *exc) -> None:
        with self.guard:
            self.done = True
