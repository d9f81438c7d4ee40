"""The retry policy shared by the sync and the async hooks of Nomad and Consul (tenacity).

What is retried: an agent that cannot be reached, a dropped connection or a timeout (a blocking
query's read timeout is its wait plus a margin, so the wait itself never counts as one), and
:class:`~airflow_provider_nomad.exceptions.NomadTransientError` (no cluster leader, 502/503/504,
rate limiting); the Consul errors of the same kinds subclass these. Never retried: 4xx answers,
permission errors (even when relayed as a 500), Nomad's dispatch validation errors, TLS
failures and bad connection settings.

Retries are bounded in attempts and in time, back off exponentially with jitter (so many
workers hitting a recovering cluster do not retry in lockstep), and log one warning per retry
naming the service, the method, the path and the reason (never the token).

Retrying a request that changes state is safe only when repeating it cannot do the work twice.
A dispatch after a dropped connection may already have created its child job: it is safe to
send again only because it carries an idempotency token, with which Nomad answers with the
existing child instead of creating a second one. A request marked ``idempotent=False`` (a
dispatch without a token) is retried only when it certainly never reached Nomad (connection
refused, DNS failure, connect timeout) or Nomad had no leader to apply it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from airflow_provider_nomad.exceptions import (
    NomadTransientError,
    NomadUnreachableError,
)

__all__ = ["DEFAULT_RETRY_POLICY", "RetryPolicy", "is_retryable"]

_log = logging.getLogger(__name__)


def is_retryable(exc: BaseException, *, idempotent: bool = True) -> bool:
    """Whether ``exc`` is worth another attempt under the shared policy.

    :param exc: the error the attempt raised.
    :param idempotent: whether repeating the request cannot do its work twice.
    """
    if isinstance(exc, NomadUnreachableError):
        return idempotent or not exc.request_sent
    if isinstance(exc, NomadTransientError):
        # A 500 "No cluster leader" was not applied; a 502/504 from a proxy may have been.
        return idempotent or exc.status in (429, 500, 503)
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and back-off of retries.

    :param max_attempts: attempts in total, the first included.
    :param max_delay: seconds after which no new attempt starts (added to a blocking
        query's own wait).
    :param initial_wait: back-off before the second attempt, doubled for each following one.
    :param max_wait: ceiling of one back-off.
    """

    max_attempts: int = 6
    max_delay: float = 60.0
    initial_wait: float = 0.5
    max_wait: float = 10.0

    def _kwargs(
        self,
        what: str,
        service: str,
        idempotent: bool,
        log: logging.Logger | None,
        extra_delay: float,
    ) -> dict[str, Any]:
        logger = log or _log
        attempts = self.max_attempts

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "%s %s failed (%s); retrying in %.1f s (attempt %d of %d)",
                service,
                what,
                exc,
                wait,
                state.attempt_number + 1,
                attempts,
            )

        return {
            "stop": stop_after_attempt(attempts) | stop_after_delay(self.max_delay + extra_delay),
            # multiplier * 2**(attempt - 1): initial_wait before the second attempt, doubling.
            "wait": wait_exponential_jitter(
                multiplier=self.initial_wait, max=self.max_wait, jitter=self.initial_wait
            ),
            "retry": retry_if_exception(lambda e: is_retryable(e, idempotent=idempotent)),
            "before_sleep": log_retry,
            "reraise": True,
        }

    def sync(
        self,
        what: str,
        *,
        service: str = "Nomad",
        idempotent: bool = True,
        log: logging.Logger | None = None,
        extra_delay: float = 0.0,
    ) -> Retrying:
        """A tenacity ``Retrying`` for one request.

        :param what: ``"<METHOD> <path>"`` for the log line.
        :param service: the service the request goes to (``"Nomad"``, ``"Consul"``), for the
            log line.
        :param idempotent: whether the request may be repeated after it reached the service.
        :param log: logger for the retry warnings.
        :param extra_delay: seconds added to ``max_delay`` (a blocking query's wait).
        """
        return Retrying(**self._kwargs(what, service, idempotent, log, extra_delay))

    def asynchronous(
        self,
        what: str,
        *,
        service: str = "Nomad",
        idempotent: bool = True,
        log: logging.Logger | None = None,
        extra_delay: float = 0.0,
    ) -> AsyncRetrying:
        """A tenacity ``AsyncRetrying`` for one request; same arguments as :meth:`sync`."""
        return AsyncRetrying(**self._kwargs(what, service, idempotent, log, extra_delay))


DEFAULT_RETRY_POLICY = RetryPolicy()
