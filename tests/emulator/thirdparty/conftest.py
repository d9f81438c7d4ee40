"""Third-party test suites kept as test data: the main run never collects them.

Each one runs against the emulator through its own script (``scripts/run_*_suite.py``) and
its own ``pytest.ini``, in a separate pytest process.
"""

collect_ignore = ["python_nomad", "py_consul"]
