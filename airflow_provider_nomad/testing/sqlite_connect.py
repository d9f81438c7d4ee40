"""SQLite connection arguments for the Airflow deployments the tests and benchmarks start.

Every Airflow component of a deployment (api-server, scheduler, dag-processor, triggerer and
the task processes) writes to one SQLite file, and SQLite lets one writer in at a time. Its
default busy timeout is 5 s: on a loaded 2-core machine a descheduled component can hold the
write lock that long, and the next writer then fails with "database is locked" (an HTTP 500
from the api-server). A longer timeout only bounds the wait; it ends when the lock is free.
Airflow imports this through ``[database] sql_alchemy_connect_args`` (and ``..._async``).
"""

from __future__ import annotations

#: ``sqlite3.connect(timeout=...)``, seconds. A bound for a hang, not how long a write takes.
CONNECT_ARGS = {"timeout": 120.0}
