"""Copy the front-end files the pages load from node_modules/ into static/vendor/ (git-ignored).

Run at set-up after `npm ci`. Only the listed files are copied, so nothing else from node_modules is ever
served. Exits 1 naming the missing file when `npm ci` has not been run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "static" / "vendor"

# Load order matters for the UMD bundles: layout-base <- cose-base <- cytoscape-fcose, lodash <- edgehandles.
FILES = {
    "cytoscape/dist/cytoscape.min.js": "cytoscape.min.js",
    "layout-base/layout-base.js": "layout-base.js",
    "cose-base/cose-base.js": "cose-base.js",
    "cytoscape-fcose/cytoscape-fcose.js": "cytoscape-fcose.js",
    "lodash/lodash.min.js": "lodash.min.js",
    "cytoscape-edgehandles/cytoscape-edgehandles.js": "cytoscape-edgehandles.js",
    "idiomorph/dist/idiomorph.min.js": "idiomorph.min.js",
}
LICENSES = ["cytoscape", "layout-base", "cose-base", "cytoscape-fcose", "lodash", "cytoscape-edgehandles", "idiomorph"]


def main() -> int:
    missing = [name for name in FILES if not (NODE_MODULES / name).is_file()]
    if missing:
        print(f"vendor: {NODE_MODULES / missing[0]} is missing; run `npm ci` first", file=sys.stderr)
        return 1
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, target in FILES.items():
        shutil.copyfile(NODE_MODULES / source, VENDOR / target)
    for package in LICENSES:
        licence = NODE_MODULES / package / "LICENSE"
        if licence.is_file():
            shutil.copyfile(licence, VENDOR / f"LICENSE.{package}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
