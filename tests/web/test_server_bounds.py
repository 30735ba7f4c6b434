"""What one request may cost a real worker (issue 12, finding 1): gunicorn as the Dockerfile runs it (sync workers,
DEBUG off), measured from outside by the size of the answer and the worker's resident memory (psutil), not by time.

Before the bounds, a 1.6 MB drawing with `edges[].l7` nested ~980 levels compiled to 500 MB of YAML (the block
writer indents each level: output grows with depth squared) and the worker kept 1.1 GB in its YAML cache; the same
drawing saved and served from `/d/<slug>.yaml` by anyone with the link. The body here is about 0.2 MB and would
have answered more than 60 MB.
"""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest

from scripts.appserver import serving

MIB = 1024 * 1024
# README "Limits": an answer is at most FENCELINE_MAX_RESPONSE_BYTES (32 MiB); a request grows a worker by at most
# MEMORY_PER_REQUEST_MIB above idle, and the worker is back within RETURNED_MIB of idle afterwards.
MEMORY_PER_REQUEST_MIB = 400
RETURNED_MIB = 60
TALK_APP = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "talk-app.json"


def deep_l7_document(depth: int, edges: int) -> dict[str, Any]:
    document = json.loads(TALK_APP.read_text())
    document["settings"]["dialect"] = "cilium"
    deep: Any = "x"
    for _ in range(depth):
        deep = {"d": deep}
    template = document["edges"][0]
    document["edges"] = [
        {**template, "id": f"deep{i}", "ports": [{"protocol": "TCP", "port": 8000 + i}], "l7": {"http": [deep]}}
        for i in range(edges)
    ]
    return document


def worker_of(pid_file: Path) -> psutil.Process:
    master = psutil.Process(int(pid_file.read_text()))
    (worker,) = master.children()
    return worker


def peak_kib(process: psutil.Process) -> int:
    """VmHWM: the most resident memory the process ever had."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def send(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Host": "localhost", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=240) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def csrf(base: str) -> dict[str, str]:
    request = urllib.request.Request(base + "/api/csrf", headers={"Host": "localhost"})
    with urllib.request.urlopen(request, timeout=30) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
        token = json.loads(response.read())["csrfToken"]
    return {"Cookie": cookie, "X-CSRFToken": token, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory() as scratch:
        pid_file = Path(scratch) / "gunicorn.pid"
        deep = deep_l7_document(900, 20)
        with serving([deep], gunicorn_args=("--pid", str(pid_file), "--timeout", "60")) as (base, [slug]):
            yield base, slug, pid_file, deep


def test_a_deeply_nested_drawing_gets_a_small_answer_and_leaves_the_worker_as_it_was(server):
    base, _, pid_file, deep = server
    worker = worker_of(pid_file)
    headers = csrf(base)
    send("POST", base + "/api/compile", json.dumps({"document": json.loads(TALK_APP.read_text())}).encode(), headers)
    idle_rss, idle_peak = worker.memory_info().rss, peak_kib(worker)
    body = json.dumps({"document": deep}).encode()
    assert len(body) < 300_000

    for url in ("/api/compile", "/api/documents", "/api/lint", "/api/check"):
        status, answer = send("POST", base + url, body, headers)
        assert len(answer) < 64 * 1024, f"{url}: {len(answer):,} bytes"
        assert status == 400, (url, answer[:300])
        assert b"nested deeper than" in answer

    grown_mib = (peak_kib(worker) - idle_peak) / 1024
    assert grown_mib < MEMORY_PER_REQUEST_MIB
    assert (worker.memory_info().rss - idle_rss) / MIB < RETURNED_MIB


def test_a_stored_deep_drawing_is_not_amplified_by_its_permalink(server):
    # Saved before the bound (the fixture stores it directly): its YAML is refused, not written 60 MB long.
    base, slug, pid_file, _ = server
    worker = worker_of(pid_file)
    idle_rss = worker.memory_info().rss
    status, answer = send("GET", f"{base}/d/{slug}.yaml")
    assert len(answer) < 64 * 1024, f"{len(answer):,} bytes"
    assert status == 409 and answer.startswith(b"# this revision is not a drawing this server compiles any more")
    assert (worker.memory_info().rss - idle_rss) / MIB < RETURNED_MIB


def test_the_widest_drawing_within_the_bounds_answers_within_the_response_limit(server):
    """Free-form values at the depth bound, as many as the upload limit holds: bounded answer or a clear 413."""
    base, _, pid_file, _ = server
    worker = worker_of(pid_file)
    headers = csrf(base)
    idle_rss, idle_peak = worker.memory_info().rss, peak_kib(worker)
    document = deep_l7_document(6, 1)  # l7 -> http -> [ -> 6 levels = 8, the bound
    edge = document["edges"][0]
    edges = 1500  # FENCELINE_MAX_EDGES
    document["edges"] = [{**edge, "id": f"e{i}", "ports": [{"protocol": "TCP", "port": 1 + i}]} for i in range(edges)]
    body = json.dumps({"document": document}).encode()
    status, answer = send("POST", base + "/api/compile", body, headers)
    assert len(answer) <= 32 * MIB
    assert status == 200, answer[:300]
    grown_mib = (peak_kib(worker) - idle_peak) / 1024
    assert grown_mib < MEMORY_PER_REQUEST_MIB, f"{grown_mib:.0f} MiB for a {len(body) / MIB:.1f} MiB body"
    assert (worker.memory_info().rss - idle_rss) / MIB < RETURNED_MIB


def test_chunked_bodies_are_read_up_to_the_limit_by_gunicorn(server):
    import http.client

    base, _, _, _ = server
    headers = csrf(base)
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"document": json.loads(TALK_APP.read_text())}).encode()
    answers = []
    for payload in (body, b" " * (11 * MIB) + body):
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        chunks = (payload[i : i + 65536] for i in range(0, len(payload), 65536))
        connection.request("POST", "/api/compile", body=chunks, headers={**headers, "Host": "localhost"},
                           encode_chunked=True)  # fmt: skip
        response = connection.getresponse()
        answers.append((response.status, response.read()))
        connection.close()
    assert answers[0][0] == 200 and json.loads(answers[0][1])["ok"] is not None
    assert answers[1][0] == 413 and b"larger than the limit" in answers[1][1]
