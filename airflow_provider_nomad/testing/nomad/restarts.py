"""The client's restart decision, after ``client/allocrunner/taskrunner/restarts/restarts.go``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .golang import format_duration

JITTER = 0.25

REASON_NO_RESTARTS = "Policy allows no restarts"
REASON_UNRECOVERABLE = "Error was unrecoverable"
REASON_WITHIN_POLICY = "Restart within policy"
REASON_DELAY = "Exceeded allowed attempts, applying a delay"
REASON_SUCCESS = "Restart unnecessary as task terminated successfully"

RESTARTING = "Restarting"
NOT_RESTARTING = "Not Restarting"
TERMINATED = "Terminated"
KILLED = "Killed"


@dataclass
class ExitResult:
    """``drivers.ExitResult``."""

    exit_code: int = 0
    signal: int = 0
    oom_killed: bool = False
    error: str | None = None

    @property
    def successful(self) -> bool:
        return self.exit_code == 0 and self.signal == 0 and self.error is None


class StartError(Exception):
    """A driver failed to start the task.

    :param recoverable: whether the restart policy applies (``structs.IsRecoverable``).
    """

    def __init__(self, message: str, recoverable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.recoverable = recoverable


class RestartTracker:
    """Counts restarts in the policy interval and decides what happens after an exit.

    :param policy: the task's ``RestartPolicy`` (durations in nanoseconds).
    :param job_type: batch jobs are not restarted after a successful exit.
    :param now_ns: the clock.
    """

    def __init__(self, policy: dict[str, Any], job_type: str, now_ns, rng=None) -> None:
        self._policy = policy
        self._on_success = job_type not in ("batch", "sysbatch")
        self._now_ns = now_ns
        self._rng = rng or random.Random()
        self._start = now_ns()
        self._count = 0
        self._exit: ExitResult | None = None
        self._start_error: StartError | None = None
        self._failure = False
        self.killed = False
        self.reason = ""

    def set_start_error(self, error: StartError) -> None:
        self._start_error = error
        self._failure = True

    def set_exit_result(self, result: ExitResult) -> None:
        self._exit = result
        self._failure = True

    def state(self) -> tuple[str, int]:
        """``GetState``: (decision, delay in ns); :attr:`reason` explains it."""
        try:
            return self._decide()
        finally:
            self._exit, self._start_error, self._failure, self.killed = None, None, False, False

    def _decide(self) -> tuple[str, int]:
        if self.killed:
            self.reason = ""
            return KILLED, 0
        attempts = int(self._policy.get("Attempts", 0))
        if attempts == 0:
            self.reason = REASON_NO_RESTARTS
            if not self._on_success and self._exit is not None and self._exit.successful:
                return TERMINATED, 0
            return NOT_RESTARTING, 0
        now = self._now_ns()
        if now > self._start + int(self._policy.get("Interval", 0)):
            self._count = 0
            self._start = now
        self._count += 1
        if not self._failure:
            return "", 0
        if self._start_error is not None:
            if not self._start_error.recoverable:
                self.reason = REASON_UNRECOVERABLE
                return NOT_RESTARTING, 0
        elif self._exit is not None and self._exit.successful and not self._on_success:
            self.reason = REASON_SUCCESS
            return TERMINATED, 0
        if self._count > attempts:
            if self._policy.get("Mode", "fail") == "fail":
                interval = format_duration(int(self._policy.get("Interval", 0)))
                self.reason = (
                    f"Exceeded allowed attempts {attempts} in interval {interval} "
                    'and mode is "fail"'
                )
                return NOT_RESTARTING, 0
            self.reason = REASON_DELAY
            return RESTARTING, self._start + int(self._policy.get("Interval", 0)) - now
        self.reason = REASON_WITHIN_POLICY
        return RESTARTING, self._jitter()

    def _jitter(self) -> int:
        delay = int(self._policy.get("Delay", 0)) or 1
        return delay + int(self._rng.randrange(delay) * JITTER)
