"""An emulator of the Nomad and Consul HTTP APIs, for tests, benchmarks and offline DAG runs.

No Nomad or Consul binary is needed::

    from airflow_provider_nomad.testing import Emulator

    with Emulator() as emu:              # or: python -m airflow_provider_nomad.testing serve
        emu.nomad_addr                   # "http://127.0.0.1:PORT"
        emu.consul_addr
        emu.control.add_node("node-2", memory=16384)

The pytest plugin (``airflow_provider_nomad.testing.pytest_plugin``, loaded automatically)
provides ``nomad_emulator``, ``nomad_emulator_acl`` and ``nomad_target`` (a real Nomad when
``NOMAD_ADDR`` is set, else the emulator).

What is emulated
----------------
Nomad (``airflow_provider_nomad.testing.nomad``): job register/parse/list/read/stop/purge,
dispatch (meta, payload, ``IdPrefixTemplate``, idempotency token), allocations, evaluations,
job summaries, ``/v1/client/fs/{logs,cat,readat,ls,stat}``, ``/v1/status/leader``,
``/v1/agent/self``, with Nomad's fields, statuses, headers and error texts; blocking queries
with Nomad's table indexes, ``wait`` parsing, 300 s cap and jitter; namespaces, regions and ACL
tokens. One emulated agent is server and client: the scheduler places allocations on emulated
nodes (default ``node-1``: dc1, 4000 MHz, 8192 MB, drivers ``raw_exec``, ``exec``,
``mock_driver``), reporting placement failures as Nomad does (``FailedTGAllocs``,
``DimensionExhausted``, ``ConstraintFiltered``/``missing drivers``, a blocked evaluation
placed once capacity frees). Tasks run for real (``raw_exec``/``exec``: a subprocess in its own
process group, with Nomad's task environment, directories, dispatch payload and rotating log
files) or scripted (``mock_driver``), with Nomad's restart and reschedule policies, task
events and job status derivation. Consul (``airflow_provider_nomad.testing.consul``) serves
health, catalog, agent registrations and checks (TTL, HTTP, and script checks when enabled),
maintenance mode, KV, sessions, transactions, coordinates, user events, operator and snapshot
endpoints.

Control API
-----------
Under ``/_emulator/`` on the Nomad port (never under ``/v1/``), never counted; with ACLs on,
every request needs the management token (:attr:`Emulator.token`, as ``X-Nomad-Token`` or
``Authorization: Bearer``), else 403 ``Permission denied``:
``POST reset``; ``GET|DELETE requests?service=``; ``GET|POST|DELETE faults`` (status/body,
dropped connection, latency, probability); ``GET|POST nodes``, ``POST nodes/{id}``,
``POST nodes/{id}/down``; ``POST tokens`` (namespaces x capabilities); ``POST namespaces``;
``POST gc``; ``GET processes``; ``GET|POST|DELETE substitutions``, ``DELETE
substitutions/{id}`` (driver substitutions); ``PUT vault/{path}`` (Vault secrets for templates).
:class:`EmulatorControl` is its Python client
(``Emulator.control`` sends the token). The Consul side has its own under
``/_emulator/consul/`` on the Consul port (``X-Consul-Token``; client
:class:`~airflow_provider_nomad.testing.consul.ConsulControl`).

Nomad behaviours reproduced that clients must expect
----------------------------------------------------
* ACLs: every server endpoint answers 403 ``Permission denied`` for a missing, insufficient *or
  unknown* token (Nomad >= 1.5 authenticates first, ``nomad/auth/auth.go``). Only the client's
  filesystem endpoints resolve the token themselves: there an unknown token reads ``ACL token
  not found``; on ``/v1/client/fs/logs`` both errors arrive with status **500** (the streaming
  RPC error carries no code), on ``cat``/``readat``/``ls``/``stat`` with 403.
* A followed log stream (``follow=true``) never ends by itself, not even when the task is dead
  (hashicorp/nomad#18369): a reader must watch the allocation and close the stream. It ends
  when the allocation is garbage-collected, after a ``file deleted`` frame.
* A frame's ``Offset`` is the offset in its ``File`` *after* the first read batched into it; a
  frame may come without ``Data`` (after full 64 KiB frames, on the 200 ms flush). Count bytes.
* ``Evaluation`` and full ``Allocation`` objects omit empty fields (``codec:",omitempty"``):
  no ``BlockedEval`` key when there is none, no ``NextAllocation`` before a reschedule.
* A reschedule within 1 s of the failure happens at once (``rescheduleWindowSize``); a later
  one goes through a ``pending`` follow-up evaluation with ``WaitUntil``, during which the job
  is ``pending``, not ``dead``.
* A killed task gets the task's ``kill_signal`` (SIGINT by default), then SIGKILL after its
  ``kill_timeout``; a batch task stopped this way ends ``complete``, not ``failed``.

OOM kills
---------
A ``raw_exec``/``exec`` task whose memory (its whole process tree, each page counted once as
a cgroup charges it: proportional set sizes) exceeds
``resources.memory_max`` (or ``resources.memory`` when no max is set) is killed with SIGKILL and
reported like a cgroup OOM kill: a ``Terminated`` event with ``exit_code`` 137, ``signal`` 9,
``oom_killed: "true"`` and the message ``OOM Killed``. Memory is sampled every 50 ms.

Deviations from real Nomad
--------------------------
* One agent, one region (``global``); ``?region=`` naming another answers ``No path to
  region``. No Raft, no leader election (``X-Nomad-KnownLeader: true`` always).
* ``exec`` runs like ``raw_exec`` (no chroot or isolation); its task directories are the host
  paths, not ``/alloc``, ``/local``, ``/secrets``. Only ``raw_exec`` inherits the agent's
  environment (minus Nomad's default ``env.denylist``).
* Only batch semantics are modelled faithfully (service/system jobs are placed but never
  restarted on success, no deployments, update or migrate blocks). Lifecycle hooks,
  artifacts, services, volumes, networks and devices are accepted but not acted upon.
* Drivers other than ``raw_exec``/``exec``/``mock_driver`` run only through a declared
  substitution (``EmulatorControl.substitute``, ``--substitute``): a local command or a mock
  behaviour, never the container or JVM itself; nodes do not advertise substituted drivers.
* Templates (``nomad.templates``) render once, before the task starts, with ``env``,
  ``nomadVar``/``nomadVarExists``, Go's built-ins, a few string helpers and ``secret`` for
  declared Vault secrets; no re-render, so ``change_mode`` never fires; ``nomadVar`` reads any
  variable of the namespace (no workload-identity check); other functions fail the task.
* Scheduling: feasibility checks cover datacenters, node pools, drivers and constraints
  (``=``, ``!=``, ``<``..``>=``, ``regexp``, ``set_contains*``, ``is_set``, ``is_not_set``;
  ``version``/``semver`` only check that the attribute exists); bin-packing picks the fullest
  node that fits; there are no node classes, affinities, spreads or preemption.
* Job validation covers a subset of ``Job.Validate``. Jobs registered as JSON are
  canonicalised with Nomad's defaults; unknown fields are kept as sent.
* Routes Nomad has but the emulator does not model answer ``501`` with a plain-text reason
  (for example ``/v1/job/:id/versions``, ``/v1/event/stream``, ``/v1/client/fs/stream``,
  ``/v1/acl/...``, ``/v1/node/...``), never a fake 200. Pagination, ``filter`` expressions
  and ``?stale`` are parsed and validated but not applied.
* Responses are not gzip-compressed. JSON field order may differ from Go's.
* Allocation GC happens only through the control API (``gc``); nothing is collected on a timer.
* Alloc updates from the emulated client are committed immediately (a real client batches
  them every 200 ms), so intermediate states such as ``pending`` may be shorter-lived.
* Logs of allocations on a node marked down answer 500 ``No path to node``; a lost
  allocation's processes are killed silently (its node is gone).
* Bodies are decoded like Go's ``encoding/json`` for the fields the emulator reads (its error
  texts for syntax and type errors included); other fields are not type-checked.
"""

from __future__ import annotations

from .control import EmulatorControl
from .server import Emulator

__all__ = ["Emulator", "EmulatorControl"]
