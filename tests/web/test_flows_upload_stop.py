"""A flow upload that runs out of time stops reading at once (issue 12, finding 4): the reading thread used to
run on for seconds after the 503 when a small gzip body expanded to a large JSON array."""

from __future__ import annotations

import gzip
import io
import threading
import time
from pathlib import Path

from editor.flows_upload import FlowUpload, import_events
from editor.policy.flows import FlowOptions

HUBBLE = Path(__file__).parents[1] / "fixtures/hubble/basic-sample-400-tcp-flows.json"


def reading_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "flow-import"]


def test_the_reader_stops_within_a_moment_of_the_time_limit(settings) -> None:
    # The old reader had expanded this body within about half a second, then decoded and walked the array
    # for seconds more without looking at the clock; the limit falls in that walk.
    settings.FENCELINE_TIME_LIMIT_SECONDS = 1.0
    lines = [line for line in HUBBLE.read_bytes().splitlines() if line.strip()][:20]
    body = gzip.compress(b"[" + b",".join(lines * 6000) + b"]", compresslevel=1)  # ~3 MB gzip, ~150 MB inside
    upload = FlowUpload([("big.json.gz", io.BytesIO(body))], FlowOptions(), None)
    assert not reading_threads()
    *_, last = import_events(upload)
    assert last["status"] == 503 and "FENCELINE_TIME_LIMIT_SECONDS" in last["details"][0]
    answered = time.monotonic()
    for thread in reading_threads():
        thread.join(timeout=5)
    assert time.monotonic() - answered < 0.3, "the reading thread ran on after the 503"
