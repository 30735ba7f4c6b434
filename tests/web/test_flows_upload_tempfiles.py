"""POST /api/flows keeps uploads over FILE_UPLOAD_MAX_MEMORY_SIZE in temporary files: none may outlive the request,
whichever way it ends (an answer, a streamed answer, an error, the size limit, the time limit)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

pytestmark = pytest.mark.django_db

TCP = Path(__file__).parents[1] / "fixtures/hubble/basic-sample-400-tcp-flows.json"


@pytest.fixture
def temp_dir(settings, tmp_path):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload goes to a temporary file
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    return tmp_path


def files() -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(f"flows-{n}.json", TCP.read_bytes()) for n in range(3)]


def read_all(response, temp_dir: Path) -> bytes:
    if response.streaming:
        assert len(list(temp_dir.iterdir())) == 3  # the uploads are on disk while the answer streams
    data = b"".join(response.streaming_content) if response.streaming else response.content
    response.close()  # what the WSGI server does when the answer is sent
    return data


@pytest.mark.parametrize(
    ("query", "fields", "status"),
    [
        ("", {}, 200),
        ("?progress=1", {}, 200),
        ("", {"document": "{"}, 400),
        ("", {"verdict": "maybe"}, 400),
    ],
)
def test_no_temporary_file_outlives_the_request(api, temp_dir, query, fields, status):
    response = api.post_form("/api/flows" + query, {"file": files(), **fields})
    assert response.status_code == status
    read_all(response, temp_dir)
    assert list(temp_dir.iterdir()) == []


def test_no_temporary_file_outlives_a_refusal_for_size(api, temp_dir, settings):
    settings.FENCELINE_MAX_UPLOAD_BYTES = TCP.stat().st_size * 2  # the body passes, the three files do not
    response = api.post_form("/api/flows", {"file": files()})
    assert response.status_code == 413
    read_all(response, temp_dir)
    assert list(temp_dir.iterdir()) == []


@pytest.mark.parametrize("query", ["", "?progress=1"])
def test_no_temporary_file_outlives_the_time_limit(api, temp_dir, settings, query):
    settings.FENCELINE_TIME_LIMIT_SECONDS = 0.001
    response = api.post_form("/api/flows" + query, {"file": files()})
    body = read_all(response, temp_dir)
    last = json.loads(body.decode().splitlines()[-1])
    assert "took longer than the limit" in last["error"]
    assert list(temp_dir.iterdir()) == []
