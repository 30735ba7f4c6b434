"""Make docs/talk-app.svg, the picture in the README: the talk's application saved on a real server and fetched
from its `/d/<slug>.svg`, the way CI and docs embed a drawing.

    .venv/bin/python scripts/readme_picture.py [output.svg]
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.appserver import serving  # noqa: E402

TALK_APP = ROOT / "tests" / "fixtures" / "documents" / "talk-app.json"


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "talk-app.svg"
    with (
        serving([json.loads(TALK_APP.read_text())]) as (base, [slug]),
        urllib.request.urlopen(f"{base}/d/{slug}.svg", timeout=30) as response,  # loopback only
    ):
        output.write_bytes(response.read())
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
