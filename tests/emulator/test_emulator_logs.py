"""Task logs: plain and framed reads, offsets, rotation, following, heartbeats, file events."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import sys
import time

import pytest
from emulator_testlib import (
    batch_job,
    decode_frames,
    mock_task,
    no_reschedule,
    no_restart,
    sh_task,
    unique,
)

MIB = 1024 * 1024


def run_to_completion(api, task: dict, **job_kw) -> dict:
    job_id = unique("logs")
    api.register(
        batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule(), **job_kw)
    )
    [alloc] = api.final_allocs(job_id)
    return alloc


def test_plain_and_framed_reads_of_a_finished_task(api):
    alloc = run_to_completion(api, sh_task("t", "printf 'hello\\n'; printf 'oops' >&2"))
    assert api.logs(alloc["ID"], "t") == b"hello\n"
    assert api.logs(alloc["ID"], "t", "stderr") == b"oops"
    response = api.get(f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "t", "type": "stdout"})
    assert response.headers["Content-Type"].startswith("application/json")
    frames = [f for f in decode_frames(response.content) if f]
    assert b"".join(base64.b64decode(f.get("Data", "")) for f in frames) == b"hello\n"
    assert frames[0]["File"] == "alloc/logs/t.stdout.0"
    # A frame's Offset is the file offset after the data read into it.
    assert frames[0]["Offset"] == 6


def test_offset_and_origin(api):
    alloc = run_to_completion(api, sh_task("t", "printf 0123456789"))
    assert api.logs(alloc["ID"], "t", offset="4") == b"456789"
    assert api.logs(alloc["ID"], "t", origin="end", offset="4") == b"6789"
    assert api.logs(alloc["ID"], "t", origin="end", offset="100") == b"0123456789"


def test_rotation_follows_log_config_and_offsets_count_across_files(api):
    script = "head -c 2621440 /dev/zero | tr '\\0' 'a'"  # 2.5 MiB
    task = sh_task("t", script, LogConfig={"MaxFiles": 5, "MaxFileSizeMB": 1})
    alloc = run_to_completion(api, task)
    listing = api.get(f"/v1/client/fs/ls/{alloc['ID']}", params={"path": "alloc/logs"})
    sizes = {e["Name"]: e["Size"] for e in listing.json() if "stdout" in e["Name"]}
    assert sizes == {"t.stdout.0": MIB, "t.stdout.1": MIB, "t.stdout.2": MIB // 2}
    tail = api.logs(alloc["ID"], "t", offset=str(int(1.5 * MIB)))
    assert tail == b"a" * MIB


def test_old_files_beyond_max_files_are_deleted(emu, nomad_emulator):
    script = "head -c 3670016 /dev/zero | tr '\\0' 'b'"  # 3.5 MiB
    task = sh_task("t", script, LogConfig={"MaxFiles": 2, "MaxFileSizeMB": 1})
    alloc = run_to_completion(emu, task)
    log_dir = os.path.join(nomad_emulator.state_dir, "allocs", alloc["ID"], "alloc", "logs")
    assert sorted(n for n in os.listdir(log_dir) if "stdout" in n) == ["t.stdout.2", "t.stdout.3"]
    assert emu.logs(alloc["ID"], "t") == b"b" * (MIB + MIB // 2)


def test_a_task_that_never_started_has_no_logs(emu):
    alloc = run_to_completion(emu, mock_task("t", start_error="no such image"))
    response = emu.get(f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "t", "type": "stdout"})
    assert (response.status_code, response.text) == (
        404,
        'task "t" not started yet. No logs available',
    )


def stream(api, alloc_id: str, task: str, **params):
    query = {"task": task, "type": "stdout", "follow": "true", **params}
    return api.http.stream("GET", f"/v1/client/fs/logs/{alloc_id}", params=query, timeout=30)


def wait_running(api, job_id: str) -> dict:
    return api.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")[0]


def test_follow_streams_new_output_and_heartbeats(emu):
    job_id = unique("follow")
    task = mock_task(
        "t",
        run_for="3s",
        stdout_string="tick\n",
        stdout_repeat=2,
        stdout_repeat_duration="200ms",
    )
    emu.register(batch_job(job_id, [task]))
    alloc = wait_running(emu, job_id)
    received = b""
    heartbeats = 0
    decoder = json.JSONDecoder()
    buffer = ""
    started = time.monotonic()
    with stream(emu, alloc["ID"], "t") as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            buffer += chunk.decode()
            while buffer:
                try:
                    frame, end = decoder.raw_decode(buffer)
                except json.JSONDecodeError:
                    break
                buffer = buffer[end:]
                if frame == {}:
                    heartbeats += 1
                received += base64.b64decode(frame.get("Data", ""))
            if received == b"tick\n" * 3 and heartbeats:
                break
            assert time.monotonic() - started < 20
    assert received == b"tick\n" * 3
    assert heartbeats >= 1


def test_garbage_collection_ends_a_follow_with_a_file_deleted_event(emu, nomad_emulator):
    job_id = unique("gc")
    emu.register(batch_job(job_id, [mock_task("t", stdout_string="bye\n")]))
    alloc = emu.final_allocs(job_id)[0]
    frames = []
    with stream(emu, alloc["ID"], "t") as response:
        decoder, buffer = json.JSONDecoder(), ""
        for chunk in response.iter_raw():
            buffer += chunk.decode()
            while buffer:
                try:
                    frame, end = decoder.raw_decode(buffer)
                except json.JSONDecodeError:
                    break
                buffer = buffer[end:]
                frames.append(frame)
                if frame.get("Data") and len(frames) == 1:
                    nomad_emulator.control.gc_job(job_id)
    events = [f.get("FileEvent") for f in frames if f.get("FileEvent")]
    assert events == ["file deleted"]
    missing = emu.get(f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "t", "type": "stdout"})
    assert (missing.status_code, missing.text) == (404, f'Unknown allocation "{alloc["ID"]}"')


def test_cat_and_readat_read_files_relative_to_the_alloc_dir(api):
    script = "printf result > $NOMAD_ALLOC_DIR/result.json; printf local > $NOMAD_TASK_DIR/x"
    alloc = run_to_completion(api, sh_task("t", script))
    cat = api.get(f"/v1/client/fs/cat/{alloc['ID']}", params={"path": "alloc/result.json"})
    assert (cat.status_code, cat.content) == (200, b"result")
    local = api.get(f"/v1/client/fs/cat/{alloc['ID']}", params={"path": "t/local/x"})
    assert local.content == b"local"
    part = api.get(
        f"/v1/client/fs/readat/{alloc['ID']}",
        params={"path": "alloc/result.json", "offset": "2", "limit": "3"},
    )
    assert (part.status_code, part.content) == (200, b"sul")


def _expected_stream(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(rng.randbytes(MIB) for _ in range(size // MIB))


@pytest.mark.slow
def test_fifty_megabytes_rotate_and_stream_back_byte_exact(emu, nomad_emulator):
    size, seed = 50 * MIB, 7
    program = (
        f"import random,sys;r=random.Random({seed});w=sys.stdout.buffer.write\n"
        f"for _ in range({size // MIB}): w(r.randbytes(1048576))\n"
    )
    task = {
        "Name": "big",
        "Driver": "raw_exec",
        "Config": {"command": sys.executable, "args": ["-c", program]},
        "LogConfig": {"MaxFiles": 10, "MaxFileSizeMB": 6},
    }
    job_id = unique("big")
    emu.register(batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule()))
    alloc = emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] != "pending")[0]
    digest = hashlib.sha256()
    received = 0
    decoder, buffer = json.JSONDecoder(), ""
    # Framed and followed, from offset 0, while the task is still writing.
    with stream(emu, alloc["ID"], "big", offset="0") as response:
        for chunk in response.iter_raw():
            buffer += chunk.decode()
            while buffer:
                try:
                    frame, end = decoder.raw_decode(buffer)
                except json.JSONDecodeError:
                    break
                buffer = buffer[end:]
                data = base64.b64decode(frame.get("Data", ""))
                digest.update(data)
                received += len(data)
            if received >= size:
                break
    expected = hashlib.sha256(_expected_stream(size, seed)).hexdigest()
    assert received == size
    assert digest.hexdigest() == expected
    emu.wait_dead(job_id, timeout=60)
    log_dir = os.path.join(nomad_emulator.state_dir, "allocs", alloc["ID"], "alloc", "logs")
    sizes = sorted(
        (int(n.rsplit(".", 1)[1]), os.path.getsize(os.path.join(log_dir, n)))
        for n in os.listdir(log_dir)
        if ".stdout." in n
    )
    assert [s for _, s in sizes] == [6 * MIB] * 8 + [2 * MIB]
    with emu.http.stream(
        "GET",
        f"/v1/client/fs/logs/{alloc['ID']}",
        params={"task": "big", "type": "stdout", "plain": "true"},
        timeout=60,
    ) as plain:
        plain_digest = hashlib.sha256()
        for chunk in plain.iter_raw():
            plain_digest.update(chunk)
    assert plain_digest.hexdigest() == expected


def test_file_reads_of_an_unknown_allocation(api):
    bogus = "00000000-1111-2222-3333-444444444444"
    response = api.get(f"/v1/client/fs/cat/{bogus}", params={"path": "alloc"})
    assert (response.status_code, response.text) == (404, f'Unknown allocation "{bogus}"')
