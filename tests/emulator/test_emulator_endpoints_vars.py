"""``/v1/vars`` and ``/v1/var/:path``: reads, writes, deletes and check-and-set, as Nomad's
variable endpoint answers them."""

from __future__ import annotations

import pytest


def put(api, path: str, items: dict[str, str], **params):
    return api.put(f"/v1/var/{path}", {"Items": items}, params=params)


def test_put_get_list_and_delete(emu):
    written = put(emu, "batch/settlement", {"user": "svc", "password": "s3cret"})
    assert written.status_code == 200, written.text
    body = written.json()
    assert written.headers["X-Nomad-Index"] == str(body["ModifyIndex"])
    assert body["Items"] == {"user": "svc", "password": "s3cret"}
    assert (body["Namespace"], body["Path"]) == ("default", "batch/settlement")
    assert body["CreateIndex"] == body["ModifyIndex"] > 0
    assert body["CreateTime"] == body["ModifyTime"] > 0

    read = emu.get("/v1/var/batch/settlement")
    assert read.status_code == 200
    assert read.json() == body
    assert read.headers["X-Nomad-KnownLeader"] == "true"

    put(emu, "batch/recon", {"k": "v"})
    put(emu, "other", {"k": "v"})
    listed = emu.get("/v1/vars", params={"prefix": "batch/"}).json()
    assert [v["Path"] for v in listed] == ["batch/recon", "batch/settlement"]
    assert "Items" not in listed[0]  # metadata only

    deleted = emu.delete("/v1/var/batch/recon")
    assert deleted.status_code == 204
    assert int(deleted.headers["X-Nomad-Index"]) > body["ModifyIndex"]
    missing = emu.get("/v1/var/batch/recon")
    assert (missing.status_code, missing.text) == (404, "variable not found")


def test_update_keeps_create_index_and_moves_modify_index(emu):
    first = put(emu, "v", {"a": "1"}).json()
    second = put(emu, "v", {"a": "2"}).json()
    assert second["CreateIndex"] == first["CreateIndex"]
    assert second["ModifyIndex"] > first["ModifyIndex"]
    assert second["Items"] == {"a": "2"}


def test_cas_zero_creates_only_if_absent(emu):
    created = put(emu, "once", {"a": "1"}, cas="0")
    assert created.status_code == 200
    again = put(emu, "once", {"a": "2"}, cas="0")
    assert again.status_code == 409
    conflict = again.json()
    assert conflict["Items"] == {"a": "1"}  # the variable that is there
    assert again.headers["X-Nomad-Index"] == str(conflict["ModifyIndex"])


def test_cas_must_match_the_modify_index(emu):
    row = put(emu, "cas", {"a": "1"}).json()
    stale = put(emu, "cas", {"a": "2"}, cas=str(row["ModifyIndex"] + 1))
    assert stale.status_code == 409
    assert stale.json()["ModifyIndex"] == row["ModifyIndex"]
    fresh = put(emu, "cas", {"a": "2"}, cas=str(row["ModifyIndex"]))
    assert fresh.status_code == 200
    assert fresh.json()["Items"] == {"a": "2"}


def test_cas_on_a_missing_variable_conflicts_with_a_zero_value(emu):
    response = put(emu, "ghost", {"a": "1"}, cas="7")
    assert response.status_code == 409
    assert response.json() == {
        "Namespace": "default",
        "Path": "ghost",
        "CreateIndex": 0,
        "CreateTime": 0,
        "ModifyIndex": 0,
        "ModifyTime": 0,
    }


def test_delete_with_cas(emu):
    row = put(emu, "d", {"a": "1"}).json()
    wrong = emu.delete("/v1/var/d", params={"cas": str(row["ModifyIndex"] + 1)})
    assert wrong.status_code == 409
    assert wrong.json()["Path"] == "d"
    assert emu.get("/v1/var/d").status_code == 200
    right = emu.delete("/v1/var/d", params={"cas": str(row["ModifyIndex"])})
    assert right.status_code == 204
    assert emu.get("/v1/var/d").status_code == 404
    # delete-if-absent on an absent variable: nothing to do, no conflict
    assert emu.delete("/v1/var/d", params={"cas": "0"}).status_code == 204


@pytest.mark.parametrize(
    ("request_args", "status", "text"),
    [
        (("put", "/v1/var/x", {"Items": {}}), 400, "variable missing required Items object"),
        (
            ("put", "/v1/var/x", {"Items": {"a": "b"}}, {"cas": "abc"}),
            400,
            'can not parse cas: strconv.ParseUint: parsing "abc": invalid syntax',
        ),
        (("put", "/v1/var/", {"Items": {"a": "b"}}), 400, "missing variable path"),
        (
            ("put", "/v1/var/bad path", {"Items": {"a": "b"}}),
            400,
            'invalid path "bad path"',
        ),
        (("patch", "/v1/var/x", None), 400, "Invalid method"),
        (("post", "/v1/vars", None), 405, "Invalid method"),
    ],
)
def test_errors(emu, request_args, status, text):
    method, path, body, *params = request_args
    kwargs = {"params": params[0]} if params else {}
    if method == "patch":
        response = emu.http.patch(path)
    else:
        response = getattr(emu, method)(path, body, **kwargs)
    assert (response.status_code, response.text) == (status, text)


def test_namespaces_are_separate(emu, nomad_emulator):
    nomad_emulator.control.create_namespace("risk")
    put(emu, "shared", {"where": "default"})
    put(emu, "shared", {"where": "risk"}, namespace="risk")
    assert emu.get("/v1/var/shared").json()["Items"] == {"where": "default"}
    assert emu.get("/v1/var/shared", params={"namespace": "risk"}).json()["Items"] == {
        "where": "risk"
    }
    everywhere = emu.get("/v1/vars", params={"namespace": "*"}).json()
    assert [(v["Namespace"], v["Path"]) for v in everywhere] == [
        ("default", "shared"),
        ("risk", "shared"),
    ]


def test_a_blocked_list_wakes_on_a_write(emu):
    index = int(emu.get("/v1/vars").headers["X-Nomad-Index"])
    import threading

    result = {}

    def block():
        result["r"] = emu.get("/v1/vars", params={"index": str(index), "wait": "30s"})

    reader = threading.Thread(target=block)
    reader.start()
    put(emu, "wake", {"a": "1"})
    reader.join(timeout=60)
    assert not reader.is_alive()
    assert [v["Path"] for v in result["r"].json()] == ["wake"]
    assert int(result["r"].headers["X-Nomad-Index"]) > index


def test_acl_needs_variables_capabilities(nomad_emulator_acl):
    from emulator_testlib import Nomad

    control = nomad_emulator_acl.control
    admin = Nomad(nomad_emulator_acl.nomad_addr, nomad_emulator_acl.token)
    reader = Nomad(
        nomad_emulator_acl.nomad_addr,
        control.create_token(capabilities=["variables-read", "variables-list"]),
    )
    jobs_only = Nomad(
        nomad_emulator_acl.nomad_addr, control.create_token(capabilities=["read-job"])
    )
    try:
        assert put(admin, "secret", {"a": "1"}).status_code == 200
        assert reader.get("/v1/var/secret").json()["Items"] == {"a": "1"}
        assert [v["Path"] for v in reader.get("/v1/vars").json()] == ["secret"]
        denied = put(reader, "secret", {"a": "2"})
        assert (denied.status_code, denied.text) == (403, "Permission denied")
        assert jobs_only.get("/v1/var/secret").status_code == 403
        assert reader.delete("/v1/var/secret").status_code == 403
    finally:
        for client in (admin, reader, jobs_only):
            client.close()
