"""The emulated agent's own log: what ``/v1/agent/monitor`` streams.

Lines are what a Consul agent logs for the same events (maintenance, token updates, reloads),
never a secret. The logger does not propagate: its only reader is the monitor endpoint, so the
emulator's CLI and test output stay quiet.
"""

from __future__ import annotations

import logging

AGENT_LOG = logging.getLogger("airflow_provider_nomad.testing.consul.agent")
AGENT_LOG.setLevel(logging.DEBUG)
AGENT_LOG.propagate = False
