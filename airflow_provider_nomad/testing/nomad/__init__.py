"""The Nomad side of the emulator, split like moto's backends.

* Model: ``state`` (tables, indexes, derived status and summaries), ``records`` (rows and
  their JSON), ``job_shape`` (the keys a stored job always has), ``versions`` (job
  versions), ``deployments``, ``variables``, ``nodes`` (drain, eligibility), ``events`` +
  ``state_events`` (the event broker and the events of each write), ``scheduler`` +
  ``placement`` (evaluations, reschedules, metrics), ``taskrunner`` + ``restarts`` +
  ``drivers`` + ``taskenv`` + ``procs`` + ``logs`` (the emulated client), ``acl`` +
  ``acl_policy``, ``backend`` (the write paths tying them together).
* HTTP: thin handlers (``responses``, ``job_lifecycle_responses``, ``deployment_responses``,
  ``event_responses``, ``var_responses``, ``acl_responses``, ``cluster_responses``,
  ``client_responses``, ``fs_responses``), ``routes`` (Go ``ServeMux`` semantics; a Nomad
  route not served answers 501 naming itself), ``httputil`` (query parsing, bodies,
  blocking queries).
* Fidelity: ``errors`` (every error text), ``golang`` (Go parsing and formatting),
  ``jobspec`` (HCL2 jobspecs for ``/v1/jobs/parse``; its ``registration`` module holds the
  defaults Nomad fills into a registered job).
"""
