"""The emulator charges a task's memory as a cgroup does: a page shared by a fork counts once.

An Airflow task process forks its task from a supervisor, and the two share most of their
pages. Summing their resident sizes counts those pages twice and OOM-killed a runner that a
real Nomad client (cgroup accounting) leaves alone.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from airflow_provider_nomad.testing.nomad.procs import charged_bytes, resident_bytes

MIB = 1024 * 1024
SHARED = 200 * MIB

#: Fills SHARED bytes, forks two children that keep them shared, says so and waits for stdin.
PROGRAM = textwrap.dedent(
    f"""
    import os, sys
    block = bytearray({SHARED})
    for i in range(0, len(block), 4096):
        block[i] = 1
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            sys.stdin.read()
            os._exit(0)
        children.append(pid)
    print("forked", flush=True)
    sys.stdin.read()
    for pid in children:
        os.waitpid(pid, 0)
    """
)


def test_pages_shared_with_forked_children_are_charged_once():
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "forked"
        resident, charged = resident_bytes(proc.pid), charged_bytes(proc.pid)
    finally:
        proc.stdin.close()
        proc.wait(timeout=300)
    # Three processes each map the block: their resident sizes count it three times...
    assert resident > 2.5 * SHARED
    # ...a cgroup charges it once (plus the interpreters' own pages).
    assert SHARED < charged < 1.5 * SHARED
