"""The Nomad side of the emulator, split like moto's backends.

* Model: ``state`` (tables, indexes, derived status and summaries), ``records`` (rows and
  their JSON), ``scheduler`` + ``placement`` (evaluations, reschedules, metrics),
  ``taskrunner`` + ``restarts`` + ``drivers`` + ``taskenv`` + ``procs`` + ``logs`` (the
  emulated client), ``acl``, ``backend`` (the write paths tying them together).
* HTTP: ``responses`` and ``fs_responses`` (thin handlers), ``routes`` (Go ``ServeMux``
  semantics), ``httputil`` (query parsing, bodies, blocking queries).
* Fidelity: ``errors`` (every error text), ``golang`` (Go parsing and formatting),
  ``jobspec`` (HCL2 jobspecs for ``/v1/jobs/parse``; its ``registration`` module holds the
  defaults Nomad fills into a registered job).
"""
