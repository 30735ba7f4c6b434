"""POST /api/flows: Hubble and Gadget flow logs uploaded (multipart or raw), with a summary, merging and progress."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

FIXTURES = Path(__file__).parents[1] / "fixtures/hubble"
HTTP = FIXTURES / "basic-sample-5-http-flows.json"
DNS = FIXTURES / "basic-sample-5-dns-flows.json"
TCP = FIXTURES / "basic-sample-400-tcp-flows.json"


def upload(path: Path, data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes() if data is None else data)


def post_files(api: Any, files: list[SimpleUploadedFile], query: str = "", **fields: str) -> Any:
    return api.post_form("/api/flows" + query, {"file": files, **fields})


def events(response: Any) -> list[dict[str, Any]]:
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_an_upload_becomes_a_drawing_with_a_summary(api):
    response = post_files(api, [upload(HTTP)])
    assert response.status_code == 200
    body = response.json()
    summary = body["summary"]
    assert (summary["flowsRead"], summary["flowsUsed"], summary["replies"]) == (5, 3, 2)
    assert (summary["workloads"], summary["edges"], summary["linesSkipped"], summary["eventsLost"]) == (3, 3, 0, 0)
    assert summary["files"][0]["name"] == HTTP.name and summary["files"][0]["format"] == "hubble jsonpb"
    assert body["merged"] is None
    edges = {(e["source"], e["target"]) for e in body["document"]["edges"]}
    assert ("istio-system/prometheus", "kube-system/kube-dns") in edges
    assert all(e["observed"]["count"] == 1 for e in body["document"]["edges"])
    assert any(line.startswith("flows read 5, used 3") for line in body["lines"])


def test_the_flows_are_also_merged_into_the_posted_drawing(api, talk_doc):
    body = post_files(api, [upload(HTTP)], document=json.dumps(talk_doc)).json()
    merged = body["merged"]
    assert {n["id"] for n in talk_doc["nodes"]} < {n["id"] for n in merged["nodes"]}
    assert len(merged["edges"]) == len(talk_doc["edges"]) + 3
    assert merged["name"] == talk_doc["name"]
    assert body["document"]["name"] == "Observed traffic"  # the flows alone, as a new drawing


def test_several_files_and_gzip(api):
    compressed = SimpleUploadedFile("dns.json.gz", gzip.compress(DNS.read_bytes()))
    summary = post_files(api, [upload(HTTP), compressed]).json()["summary"]
    assert [(f["name"], f["compression"]) for f in summary["files"]] == [(HTTP.name, None), ("dns.json.gz", "gzip")]
    assert summary["flowsRead"] == 10


def test_bad_lines_are_skipped_and_reported_and_the_good_ones_kept(api):
    lines = HTTP.read_bytes().splitlines()
    data = b"\n".join([lines[0], b"not json", lines[1], lines[2], lines[3][:60]])
    summary = post_files(api, [upload(HTTP, data)]).json()["summary"]
    assert summary["flowsRead"] == 3
    assert summary["linesSkipped"] == 2
    assert [(s["line"], s["reason"].split(":")[0]) for s in summary["skipped"]] == [
        (2, "not valid JSON"),
        (5, "truncated line (the JSON object is cut off)"),
    ]


def test_a_raw_body_with_filters_in_the_query(api):
    def post(query: str) -> dict[str, Any]:
        headers = {"X-CSRFToken": api.token}
        response = api.post(
            "/api/flows" + query, DNS.read_bytes(), content_type="application/x-ndjson", headers=headers
        )
        assert response.status_code == 200
        return response.json()

    kept = post("?source=dns.json&namespace=kube-system")
    assert kept["summary"]["files"][0]["name"] == "dns.json"
    assert kept["summary"]["flowsUsed"] == 3
    left_out = post("?namespace=istio-system,default")["summary"]
    assert (left_out["flowsUsed"], left_out["ignored"]) == (0, {"namespace not selected": 3})


def test_progress_is_streamed_then_the_result(api, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # the upload goes to a temporary file, read from there
    stream = events(post_files(api, [upload(TCP)], "?progress=1"))
    progress = [event["progress"] for event in stream[:-1]]
    assert progress and all("progress" in event for event in stream[:-1])
    assert all(p["done"] <= p["total"] for p in progress)
    assert progress[-1]["done"] == progress[-1]["total"] == TCP.stat().st_size
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert stream[-1]["result"]["summary"]["flowsRead"] == 400


def test_progress_covers_both_readings_when_merging(api, talk_doc):
    stream = events(post_files(api, [upload(HTTP)], "?progress=1", document=json.dumps(talk_doc)))
    last = stream[-2]["progress"]
    assert last["done"] == last["total"] == 2 * HTTP.stat().st_size
    assert stream[-1]["result"]["merged"] is not None


def test_damaged_gzip_is_an_error_event_after_streaming_started(api):
    broken = SimpleUploadedFile("broken.gz", b"\x1f\x8b\x08\x00" + b"\x00garbage" * 100)
    stream = events(post_files(api, [broken], "?progress=1"))
    assert stream[-1]["status"] == 400
    assert "damaged gzip data" in stream[-1]["error"]
    response = post_files(api, [SimpleUploadedFile("broken.gz", b"\x1f\x8b\x08\x00" + b"\x00garbage" * 100)])
    assert response.status_code == 400
    assert "broken.gz: damaged gzip data" in response.json()["error"]


def test_uploads_over_the_limit_are_refused_with_413(api, settings):
    settings.FENCELINE_MAX_UPLOAD_BYTES = 10_000
    response = post_files(api, [upload(HTTP), upload(DNS)])  # 8,026 + 6,428 bytes
    assert response.status_code == 413
    body = response.json()
    assert body["error"].startswith("The request is larger than the limit of")
    assert body["details"] == ["request body: 14,454 bytes, limit: 10,000 bytes"]
    assert post_files(api, [upload(HTTP)]).status_code == 200


def test_reading_longer_than_the_time_limit_is_503(api, settings):
    settings.FENCELINE_TIME_LIMIT_SECONDS = 0.001
    response = post_files(api, [upload(TCP)])
    assert response.status_code == 503
    assert "took longer than the limit" in response.json()["error"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "no file"),
        ({"file": [SimpleUploadedFile("a.json", b"{}")], "since": "yesterday"}, "flow filters: 'yesterday' is not"),
        ({"file": [SimpleUploadedFile("a.json", b"{}")], "verdict": "maybe"}, "flow filters: unknown verdict"),
        ({"file": [SimpleUploadedFile("a.json", b"{}")], "document": "{"}, "document:1: not valid JSON"),
        ({"file": [SimpleUploadedFile("a.json", b"{}")], "document": '{"schema": 1}'}, "not a valid Fenceline"),
    ],
)
def test_bad_requests_are_clear_400s(api, data, message):
    response = api.post_form("/api/flows", data)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_an_empty_body_and_a_file_with_nothing_readable(api):
    response = api.post("/api/flows", b"  ", content_type="text/plain", headers={"X-CSRFToken": api.token})
    assert response.status_code == 400
    assert "empty body" in response.json()["error"]
    body = post_files(api, [SimpleUploadedFile("noise.bin", bytes(range(256)) * 4)]).json()
    assert body["summary"]["flowsRead"] == 0
    assert body["document"]["edges"] == []


def test_the_upload_needs_the_csrf_token():
    response = Client(enforce_csrf_checks=True).post("/api/flows", {"file": io.BytesIO(b"{}")})
    assert response.status_code == 403
