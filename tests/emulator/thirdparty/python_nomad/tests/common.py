"""Settings the python-nomad suite reads (``import tests.common as common``).

Written for this repository, not part of python-nomad's sdist: the runner script sets the
environment to the emulator it started. ``NOMAD_TOKEN`` starts unset, as on the suite's own CI:
``test_acl.py::test_create_bootstrap`` bootstraps the ACL system and stores the token here.
"""

import os

IP = os.environ["NOMAD_IP"]
NOMAD_PORT = os.environ["NOMAD_PORT"]
NOMAD_TOKEN = os.environ.get("NOMAD_TOKEN") or None
# Only the tests that mock HTTP with `responses` use it: any name works.
NOMAD_NAMESPACE = os.environ.get("NOMAD_NAMESPACE", "admin")
