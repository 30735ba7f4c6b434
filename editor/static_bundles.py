"""Static files made of other static files: the editor page's scripts as one file (issue 13).

The editor page ran 20 scripts of its own (Cytoscape and its layout, ours, Idiomorph), each fetched on its own
connection from the sync workers (they keep none alive); the browser fetched them six at a time, so editor.js
waited for its download in a chain of requests (its order among 25), not for the CPU. A bundle is the scripts
joined in their order, run as they ran: one after the other, in the page's global scope (the first part does not
open with "use strict", which would make all of them strict).

BundleFinder gives each bundle to collectstatic (hashed and compressed like any other file) and, in DEBUG, to
whitenoise's finders; it is made again from its parts whenever it is looked up, into build/static-bundles/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

# name -> its parts, static paths in the order they run
BUNDLES: dict[str, tuple[str, ...]] = {
    "editor/editor-page.js": (
        "vendor/cytoscape.min.js",
        "vendor/layout-base.js",
        "vendor/cose-base.js",
        "vendor/cytoscape-fcose.js",
        "editor/graph.js",
        "editor/layers.js",
        "editor/inspector.js",
        "editor/placement.js",
        "editor/layout.js",
        "editor/collapse.js",  # collapse, level of detail, search and focus start with the canvas (editor.js)
        "editor/lod.js",
        "editor/search.js",
        "editor/editor.js",
        "vendor/idiomorph.min.js",  # patches the side panel, which opens on a select
        "editor/export.js",
        "editor/graph_keys.js",
        "editor/tour.js",
        "editor/findings.js",
        "editor/check.js",
        "editor/flows.js",  # does nothing on a read-only page (no Flow logs button)
    ),
}


def build_dir() -> Path:
    return Path(settings.BASE_DIR) / "build" / "static-bundles"


def _part(path: str) -> bytes:
    found = finders.find(path)
    if not found:
        raise FileNotFoundError(f"static bundle part {path} not found (scripts/vendor.py fills static/vendor/)")
    return Path(found).read_bytes().rstrip()


def build(name: str) -> Path:
    """The bundle's file, written again only when its parts changed (its time then says when they did)."""
    # A newline and a semicolon between parts: a part ending in an expression without one, or in a line comment,
    # does not run into the next.
    content = b"\n;\n".join(_part(path) for path in BUNDLES[name]) + b"\n"
    target = build_dir() / name
    if not target.exists() or target.read_bytes() != content:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return target


class BundleFinder(finders.BaseFinder):
    def check(self, **kwargs: Any) -> list[Error]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        if path not in BUNDLES:
            return [] if find_all or kwargs.get("all") else ""
        found = str(build(path))
        return [found] if find_all or kwargs.get("all") else found

    def list(self, ignore_patterns: Any) -> Any:
        storage = FileSystemStorage(location=build_dir())
        for name in BUNDLES:
            build(name)
            yield name, storage
