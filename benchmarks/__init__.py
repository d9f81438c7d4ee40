"""Benchmarks of airflow-provider-nomad against the in-repo Nomad emulator (``make bench``).

``python -m benchmarks`` runs them all and writes ``benchmarks/results/``;
``python -m benchmarks --quick`` is the small run the test suite uses as a smoke test.
"""
