"""Every error text the Nomad emulator answers with, as Nomad's source words it.

One place for the messages (``nomad/structs/errors.go``, ``nomad/job_endpoint.go``,
``command/agent/*.go``, ``client/fs_endpoint.go``) so handlers raise :class:`NomadError` with a
constant and a status, never an ad-hoc string.
"""

from __future__ import annotations

from .golang import go_list, quote

# command/agent/http.go
INVALID_METHOD = "Invalid method"
INVALID_WAIT = "Invalid wait time"
INVALID_INDEX = "Invalid index"
REQUEST_BODY_EMPTY = "Request body is empty"
STALE_NOT_BOOL = "Expect `true` or `false` for `stale` query string parameter"
PER_PAGE_NOT_NUMBER = "Expect a number for `per_page` query string parameter"

# nomad/structs/errors.go
PERMISSION_DENIED = "Permission denied"
TOKEN_NOT_FOUND = "ACL token not found"
NO_REGION_PATH = "No path to region"
NO_CLUSTER_LEADER = "No cluster leader"
NO_NODE_CONN = "No path to node"

# command/agent/job_endpoint.go and friends
JOB_NOT_FOUND = "job not found"
EVAL_NOT_FOUND = "eval not found"
ALLOC_NOT_FOUND = "alloc not found"
JOB_MUST_BE_SPECIFIED = "Job must be specified"
JOB_ID_NOT_PROVIDED = "Job ID hasn't been provided"
JOB_ID_DOES_NOT_MATCH_NAME = "Job ID does not match name"
JOB_ID_DOES_NOT_MATCH = "Job ID does not match"
JOB_SPEC_EMPTY = "Job spec is empty"

# nomad/job_endpoint.go (plain errors: HTTP 500)
PARAMETERIZED_JOB_NOT_FOUND = "parameterized job not found"
MISSING_PARAMETERIZED_JOB_ID = "missing parameterized job ID"
PAYLOAD_REQUIRED = "Payload is not provided but required by parameterized job"
PAYLOAD_FORBIDDEN = "Payload provided but forbidden by parameterized job"
DISPATCH_PAYLOAD_SIZE_LIMIT = 16 * 1024
DISPATCHED_ON_CREATE = "job can't be submitted with 'Dispatched' set"
DISPATCHED_READ_ONLY = "field 'Dispatched' is read-only"

# nomad/acl_endpoint.go and command/agent/acl_endpoint.go
ACL_DISABLED = "ACL support disabled"
ACL_TOKEN_NOT_FOUND = "ACL token not found"
ACL_POLICY_NOT_FOUND = "ACL policy not found"
ACL_POLICY_NAME_MISMATCH = "ACL policy name does not match request path"
ACL_TOKEN_ACCESSOR_MISMATCH = "ACL token accessor does not match request path"
MISSING_TOKEN_ACCESSOR = "Missing Token Accessor"
MISSING_POLICY_NAME = "Missing Policy Name"

# command/agent/variable_endpoint.go and nomad/variables_endpoint.go
VARIABLE_NOT_FOUND = "variable not found"
MISSING_VARIABLE_PATH = "missing variable path"
VARIABLE_MISSING_ITEMS = "variable missing required Items object"

# command/agent/node_endpoint.go, nomad/node_endpoint.go
NODE_NOT_FOUND = "node not found"
MISSING_NODE_ID = "missing node ID"
INVALID_NODE_ELIGIBILITY = "invalid scheduling eligibility"

# command/agent/deployment_endpoint.go
DEPLOYMENT_NOT_FOUND = "deployment not found"

# command/agent/fs_endpoint.go and client/fs_endpoint.go
MUST_PROVIDE_ALLOC_ID = "must provide a valid alloc id"
MUST_PROVIDE_FILE_NAME = "must provide a file name"
MUST_PROVIDE_TASK = "must provide task name"
MUST_PROVIDE_LOG_TYPE = "must provide log type (stdout/stderr)"
INVALID_ORIGIN = "origin must be start or end"


def acl_bootstrap_done(reset_index: int) -> str:
    return f"ACL bootstrap already done (reset index: {reset_index})"


def invalid_variable_path(path: str) -> str:
    return f"invalid path {quote(path)}"


def bad_cas(error: str) -> str:
    return f"can not parse cas: {error}"


def not_parameterized(job_id: str) -> str:
    return f"Specified job {quote(job_id)} is not a parameterized job"


def job_stopped(job_id: str) -> str:
    return f"Specified job {quote(job_id)} is stopped"


def payload_too_large(size: int) -> str:
    return f"Payload exceeds maximum size; {size} > {DISPATCH_PAYLOAD_SIZE_LIMIT}"


def unpermitted_meta(keys: list[str]) -> str:
    return f"Dispatch request included unpermitted metadata keys: {go_list(keys)}"


def missing_meta(keys: list[str]) -> str:
    return f"Dispatch did not provide required meta keys: {go_list(keys)}"


def nonexistent_namespace(job_id: str, namespace: str) -> str:
    return f"job {quote(job_id)} is in nonexistent namespace {quote(namespace)}"


def unknown_allocation(alloc_id: str) -> str:
    return f"Unknown allocation {quote(alloc_id)}"


def unknown_task(task: str) -> str:
    return f"unknown task name {quote(task)}"


def task_not_started(task: str) -> str:
    return f"task {quote(task)} not started yet. No logs available"


def log_not_found(task: str, log_type: str) -> str:
    return f"log entry for task {quote(task)} and log type {quote(log_type)} not found"


def is_directory(path: str) -> str:
    return f"file {quote(path)} is a directory"


def no_such_file(path: str) -> str:
    return f"stat {path}: no such file or directory"


def bad_bool_param(field: str, error: str) -> str:
    return f"failed to parse {field} field to boolean: {error}"


def bad_offset(error: str) -> str:
    return f"error parsing offset: {error}"


def bad_limit(error: str) -> str:
    return f"error parsing limit: {error}"


def bad_query_bool(field: str, value: str, error: str) -> str:
    return f"Failed to parse value of {quote(field)} ({value}) as a bool: {error}"


def type_change(old: str, new: str) -> str:
    return f"cannot update job from type {quote(old)} to {quote(new)}"


def multierror(errors: list[str]) -> str:
    """``go-multierror``'s text for a validation failure."""
    noun = "error" if len(errors) == 1 else "errors"
    lines = "".join(f"\t* {e}\n" for e in errors)
    return f"{len(errors)} {noun} occurred:\n{lines}\n"


class NomadError(Exception):
    """An HTTP error answered as Nomad does: ``text/plain`` body, given status.

    :param status: HTTP status code.
    :param message: the exact body text.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> NomadError:
    return NomadError(400, message)


def server_error(message: str) -> NomadError:
    return NomadError(500, message)


def not_found(message: str) -> NomadError:
    return NomadError(404, message)


def forbidden(message: str = PERMISSION_DENIED) -> NomadError:
    return NomadError(403, message)
