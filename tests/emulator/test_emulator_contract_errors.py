"""Contract: bad requests get Nomad's statuses and texts, never a 200 or a traceback."""

from __future__ import annotations

import pytest
from emulator_testlib import batch_job, sh_task, unique

pytestmark = pytest.mark.real_nomad


def test_unknown_routes_are_404_with_an_empty_body(api):
    for path in ("/v1/nope", "/v1/jobs/", "/v1/jobs/x/y", "/v2/jobs"):
        response = api.get(path)
        assert (response.status_code, response.content) == (404, b""), path


def test_root_redirects_to_the_ui_and_subtree_roots_to_their_slash(api):
    root = api.get("/")
    assert root.status_code == 307 and root.headers["Location"] == "/ui/"
    job = api.get("/v1/job")
    assert job.status_code == 301 and job.headers["Location"] == "/v1/job/"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"{x", "invalid character 'x' looking for beginning of object key string"),
        (b"nope", "invalid character 'o' in literal null (expecting 'u')"),
        (b'{"Job": ', "unexpected EOF"),
        (b'{"Job" 1}', "invalid character '1' after object key"),
        (b"   ", "EOF"),
        (b"", "Request body is empty"),
    ],
)
def test_malformed_json_bodies(api, body, text):
    response = api.post("/v1/jobs", content=body)
    assert (response.status_code, response.text) == (400, text)


def test_register_body_problems(api):
    assert api.post("/v1/jobs", {}).text == "Job must be specified"
    assert api.post("/v1/jobs", {"Job": {"Type": "batch"}}).text == "Job ID hasn't been provided"
    response = api.put("/v1/job/a", batch_job("b", [sh_task("t", "true")]))
    assert (response.status_code, response.text) == (400, "Job ID does not match name")


def test_invalid_jobs_are_refused_with_a_validation_error(api):
    response = api.post("/v1/jobs", {"Job": {"ID": unique("empty"), "Type": "batch"}})
    assert response.status_code == 500
    assert "Missing job task groups" in response.text


def test_wrong_methods_are_405(api):
    job_id = unique("m")
    for method, path in (
        ("PATCH", "/v1/jobs"),
        ("POST", f"/v1/job/{job_id}/allocations"),
        ("DELETE", f"/v1/job/{job_id}/evaluations"),
        ("POST", "/v1/allocations"),
        ("POST", "/v1/status/leader"),
    ):
        response = api.http.request(method, path)
        assert (response.status_code, response.text) == (405, "Invalid method"), path


def test_unknown_evaluation_and_allocation(api):
    eval_response = api.get("/v1/evaluation/3a5f1c2e-0000-0000-0000-000000000000")
    assert (eval_response.status_code, eval_response.text) == (404, "eval not found")
    alloc_response = api.get("/v1/allocation/3a5f1c2e-0000-0000-0000-000000000000")
    assert (alloc_response.status_code, alloc_response.text) == (404, "alloc not found")


def test_log_request_problems(api):
    job_id = unique("logs")
    api.register(batch_job(job_id, [sh_task("t", "echo hi")]))
    [alloc] = api.final_allocs(job_id)
    url = f"/v1/client/fs/logs/{alloc['ID']}"
    cases = [
        ({"type": "stdout"}, 400, "must provide task name"),
        ({"task": "t", "type": "both"}, 400, "must provide log type (stdout/stderr)"),
        ({"task": "t", "type": "stdout", "origin": "middle"}, 400, "origin must be start or end"),
        ({"task": "nope", "type": "stdout"}, 400, 'unknown task name "nope"'),
        (
            {"task": "t", "type": "stdout", "follow": "sometimes"},
            400,
            'failed to parse follow field to boolean: strconv.ParseBool: parsing "sometimes": '
            "invalid syntax",
        ),
        (
            {"task": "t", "type": "stdout", "offset": "x"},
            400,
            'error parsing offset: strconv.ParseInt: parsing "x": invalid syntax',
        ),
    ]
    for params, status, text in cases:
        response = api.get(url, params=params)
        assert (response.status_code, response.text) == (status, text), params


def test_logs_of_an_unknown_allocation(api):
    alloc_id = "3a5f1c2e-0000-0000-0000-000000000000"
    response = api.get(f"/v1/client/fs/logs/{alloc_id}", params={"task": "t", "type": "stdout"})
    assert (response.status_code, response.text) == (404, f'Unknown allocation "{alloc_id}"')


def test_fs_read_problems(api):
    job_id = unique("fs")
    api.register(batch_job(job_id, [sh_task("t", "echo hi > $NOMAD_ALLOC_DIR/out.txt")]))
    [alloc] = api.final_allocs(job_id)
    assert api.get(f"/v1/client/fs/cat/{alloc['ID']}").text == "must provide a file name"
    directory = api.get(f"/v1/client/fs/cat/{alloc['ID']}", params={"path": "alloc"})
    assert (directory.status_code, directory.text) == (400, 'file "alloc" is a directory')
    missing = api.get(f"/v1/client/fs/cat/{alloc['ID']}", params={"path": "alloc/nope"})
    assert missing.status_code == 400
    assert missing.text.startswith("stat ") and missing.text.endswith(
        "alloc/nope: no such file or directory"
    )
    readat = api.get(f"/v1/client/fs/readat/{alloc['ID']}", params={"path": "alloc/out.txt"})
    assert (readat.status_code, readat.text) == (
        500,
        'error parsing offset: strconv.ParseInt: parsing "": invalid syntax',
    )
    unknown_fs = api.get(f"/v1/client/fs/nope/{alloc['ID']}")
    assert (unknown_fs.status_code, unknown_fs.text) == (404, "Invalid method")


def test_routes_nomad_has_but_the_emulator_does_not_model_say_so(emu):
    response = emu.get("/v1/job/x/scale")
    assert response.status_code == 501
    assert response.text == "the Nomad emulator does not implement GET /v1/job/:job_id/scale"
