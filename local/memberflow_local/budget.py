"""Real-time budgets of the local stack: a Lambda function's ``Timeout`` and API
Gateway's 29 s integration timeout (docs/local-stack.md).

An invocation runs in its caller's thread (the handler is in-process). When its budget
has passed, one watchdog thread raises :class:`Ended` inside that thread (an
asynchronous exception, delivered at the next bytecode): the handler stops where it is,
as Lambda stops a function that overruns. The watchdog holds the DynamoDB emulator's
lock while it does so, so the exception never lands inside a DynamoDB request, which
DynamoDB applies whole even when its caller is killed. A handler blocked in one long C
call is ended when that call returns.

The budget runs in wall-clock time, as Lambda's does (sleeping and waiting count),
less the time the operating system kept the thread waiting for a CPU
(``/proc/self/task/<tid>/schedstat``): a loaded machine (other processes, parallel
test runs) must not time out a function that AWS, with a CPU of its own, would not.

**Paced sleeps pass without waiting.** The journey step spaces its sends to the
channel's rate (SES: 14 a second) by sleeping (``journeys.engine.Budget.pause``, the
seam it declares for this). Locally the invocation's time runs on as if it had slept:
the sleep is added to the invocation's elapsed time, for its own ``Budget`` (through
``Budget.clock``), for ``context.get_remaining_time_in_millis()`` and for the watchdog,
which ends the invocation the moment a sleep takes it past its Timeout, as Lambda
would. Only the waiting is skipped (it was a third of the demo's wall time), as the
virtual clock skips Wait states and Retry backoffs.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time

from memberflow_local import tables


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


def _starved_seconds(native_id: int) -> float:
    """Time the thread has spent runnable but waiting for a CPU (0 where unknown)."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class _Watchdog:
    """One thread for every deadline (a Timer thread per invocation costs ~150 us)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline, check_at: float) -> None:
        with self._cond:
            # The watchdog already wakes by the earliest check in the heap: it needs
            # waking now only for an earlier one (a wake-up per invocation cost a
            # thread switch each time).
            wake = not self._heap or check_at < self._heap[0][0]
            heapq.heappush(self._heap, (check_at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="memberflow-lambda-deadlines", daemon=True
                )
                self._thread.start()
            if wake:
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
            left = deadline.remaining()
            if left > 0:  # the thread was kept waiting for a CPU: its budget runs on
                self.arm(deadline, time.monotonic() + left)
            else:
                deadline.fire()


_watchdog = _Watchdog()
_current = threading.local()  # the Deadline of the invocation running on this thread


def current() -> Deadline | None:
    return getattr(_current, "deadline", None)


def invocation_clock() -> float:
    """``time.monotonic()`` as the running invocation sees it: its skipped sleeps added."""
    deadline = current()
    return time.monotonic() + (deadline.skipped if deadline is not None else 0.0)


def invocation_sleep(seconds: float) -> None:
    """Let ``seconds`` pass for the running invocation without waiting for them (outside
    an invocation: a real sleep)."""
    deadline = current()
    if deadline is None:
        time.sleep(seconds)
    else:
        deadline.skip(seconds)


class Deadline:
    """``with Deadline(seconds):`` ends the calling thread's work after ``seconds``."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.thread = threading.get_ident()
        self.native = threading.get_native_id()
        self.guard = threading.Lock()
        self.done = False
        self.fired = False
        self.started = time.monotonic()
        self.starved = _starved_seconds(self.native)
        self.skipped = 0.0  # sleeps that passed without waiting (invocation_sleep)
        self.outer: Deadline | None = None

    def elapsed(self) -> float:
        wall = time.monotonic() - self.started
        return max(0.0, wall - (_starved_seconds(self.native) - self.starved)) + self.skipped

    def skip(self, seconds: float) -> None:
        """``seconds`` of this invocation pass at once; past its budget it is ended here."""
        if seconds <= 0:
            return
        self.skipped += seconds
        left = self.remaining()
        if left <= 0:
            self.fire()
        else:  # the watchdog's check was set for the unskipped budget: bring it forward
            _watchdog.arm(self, time.monotonic() + left)

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def fire(self) -> None:
        with tables.write_lock(), self.guard:
            if self.done:
                return
            self.fired = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread), ctypes.py_object(Ended)
            )

    def __enter__(self) -> Deadline:
        self.outer, _current.deadline = current(), self
        _watchdog.arm(self, self.started + self.seconds)
        return self

    def __exit__(self, *exc) -> None:
        with self.guard:
            self.done = True
        _current.deadline = self.outer
