"""Runs one ``@task.nomad`` function inside a Nomad task.

This module is not imported on Nomad: its source is shipped, followed by a call of
:func:`main` with the function's spec, as one self-contained script
(:mod:`~airflow_provider_nomad.nomad.python_task`). So it uses the standard library only, and
no syntax newer than Python 3.8's: the task's Python may be older than the worker's.

What it leaves behind is one JSON file, ``$NOMAD_ALLOC_DIR/airflow-task-result.json``, read
back through Nomad's fs API: ``{"return_value": ...}`` when the function returned, or
``{"error": {"phase", "type", "message", "traceback", "python"}}`` when it could not run, raised
or returned something that is not JSON. The traceback also goes to stderr, so it reaches the
task log while the job runs.
"""

import ast
import base64
import json
import linecache
import os
import sys
import traceback
import zlib

RESULT_NAME = "airflow-task-result.json"
#: Exit code when the function could not run, raised, or returned something not JSON.
EXIT_FAILED = 1


def _python():
    return ".".join(str(n) for n in sys.version_info[:3])


def _write(path, document):
    # Written to a temporary name and renamed: a reader never sees half a result.
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.write(document)
    os.replace(partial, path)


def _fail(path, phase, message, exc_info=True):
    text = ""
    if exc_info:
        kind, value, tb = sys.exc_info()
        if phase == "compile":
            # Where in the source, not where in the harness, the compiler gave up.
            text = "".join(traceback.format_exception_only(kind, value))
        else:
            # Drop the harness's own frame: the traceback starts in the user's function.
            text = "".join(traceback.format_exception(kind, value, tb.tb_next if tb else None))
    sys.stderr.write(text + message + "\n")
    sys.stderr.flush()
    error = {
        "phase": phase,
        "type": type(sys.exc_info()[1]).__name__ if exc_info else None,
        "message": message,
        "traceback": text,
        "python": _python(),
    }
    _write(path, json.dumps({"error": error}))
    return EXIT_FAILED


def _compile(spec):
    """The function's module code, line numbers as in the DAG file, decorators dropped."""
    source = spec["source"]
    filename = spec["filename"]
    first_line = spec["first_line"]
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        # Report the line of the DAG file, as the traceback of a call does.
        if exc.lineno is not None:
            exc.lineno += first_line - 1
        raise
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # The @task.nomad(...) decorator (and any other) is Airflow's business, not Nomad's.
            node.decorator_list = []
    ast.increment_lineno(tree, first_line - 1)
    # The traceback then shows the function's own lines, as in the DAG file.
    lines = [""] * (first_line - 1) + source.splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    # Annotations stay strings: they may name modules imported only in the DAG file.
    flags = __import__("__future__").annotations.compiler_flag
    return compile(tree, filename, "exec", flags=flags, dont_inherit=True)


def main(encoded_spec):
    spec = json.loads(zlib.decompress(base64.b64decode(encoded_spec)).decode("utf-8"))
    result_dir = os.environ.get("NOMAD_ALLOC_DIR") or os.getcwd()
    path = os.path.join(result_dir, RESULT_NAME)
    name = spec["name"]
    try:
        code = _compile(spec)
    except SyntaxError:
        return _fail(
            path,
            "compile",
            "The source of {}() does not compile on this task's Python {} (the Airflow worker "
            "runs Python {}): run the task with a Python at least as new as the worker's (the "
            "runner job's or the decorator's python/image), or avoid the newer syntax.".format(
                name, _python(), spec["worker_python"]
            ),
        )
    namespace = {"__name__": "__airflow_nomad_task__"}
    try:
        exec(code, namespace)
        value = namespace[name](*spec["args"], **spec["kwargs"])
    except Exception:
        return _fail(path, "call", f"{name}() raised on Nomad (see the traceback above).")
    try:
        document = json.dumps({"return_value": value}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return _fail(
            path,
            "return",
            f"{name}() returned a {type(value).__name__}, which cannot be sent back as JSON "
            f"({exc}): return JSON values "
            "(dict, list, str, int, float, bool, None; no NaN), e.g. convert dates with "
            ".isoformat() and decimals with str().",
            exc_info=False,
        )
    _write(path, document)
    return 0
