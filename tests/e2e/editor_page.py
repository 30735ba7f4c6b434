"""Drives the editor the way a person does: palette buttons, the inspector forms, mouse drags on the canvas."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from typing import Any

import yaml

# The talk's application as the canvas draws it: each node's first label line -> its parent (a namespace box).
TALK_APP_PARENTS = {
    "frontend": None,
    "backend": None,
    "ingress-nginx": None,
    "kube-system": None,
    "web": "ns:frontend",
    "api": "ns:backend",
    "ingress controller": "ns:ingress-nginx",
    "cluster DNS": "ns:kube-system",
}


class Person:
    """Types as a person does: one key at a time, 30-150 ms apart, Tab between fields as fast as any other key.
    The rhythm is seeded so that a failure replays the same way."""

    def __init__(self, page: Any, seed: int = 10) -> None:
        self.page = page
        self.rng = random.Random(seed)

    def pause(self) -> None:
        self.page.wait_for_timeout(self.rng.randint(30, 150))

    def type(self, text: str) -> None:
        for char in text:
            self.page.keyboard.type(char)
            self.pause()

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)
            self.pause()


def slow_network(page: Any, latency_ms: int = 250) -> None:
    """Chromium's own network throttling: every request takes `latency_ms` longer, as from a server across a
    VPN or under load, so answers arrive while the person is already typing the next field."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": latency_ms, "downloadThroughput": -1, "uploadThroughput": -1},
    )


class EditorPage:
    def __init__(self, page: Any) -> None:
        self.page = page

    def goto(self, path: str) -> None:
        self.page.goto(path)
        self.page.wait_for_selector("#app[data-ready='1']")
        self.wait_compiled()

    # --- waiting -------------------------------------------------------------------------------------------

    def wait_compiled(self) -> None:
        """Until the YAML beside the canvas belongs to the drawing as it is now."""
        self.page.wait_for_function(
            "() => { const app = document.getElementById('app');"
            " return app.dataset.pending === '0' && app.dataset.isolation !== 'checking'; }"
        )

    def wait_idle(self) -> None:
        """Until every inspector request has been answered and applied, and the YAML is the drawing's."""
        self.page.wait_for_timeout(200)  # a change event's request may be about to leave
        self.page.wait_for_function(
            "() => { const app = document.getElementById('app');"
            " return app.dataset.inspectorBusy !== '1' && app.dataset.pending === '0'; }"
        )

    # --- the inspector -------------------------------------------------------------------------------------

    def wait_focus_in_panel(self, name: str) -> None:
        """Until the keyboard focus is in the inspector's field `name`, which is when a person starts typing."""
        self.page.wait_for_function(
            "(name) => { const el = document.activeElement;"
            " return el && el.name === name && el.closest('#inspector') !== null; }",
            arg=name,
        )

    def doc(self) -> dict[str, Any]:
        return self.page.evaluate("window.FencelineEditor.doc()")

    def doc_node(self, name: str) -> dict[str, Any]:
        [node] = [n for n in self.doc()["nodes"] if n.get("name") == name]
        return node

    def panel_field(self, name: str) -> Any:
        return self.page.locator(f"#inspector [name='{name}']")

    def apply_panel(self, *, enter: bool = True, **fields: str) -> None:
        """Type into fields of the open panel like a person: each change is applied when the field loses focus
        (Tab), and Enter in the last field submits the form."""
        items = list(fields.items())
        for index, (name, value) in enumerate(items):
            with self.panel_swap():
                self.panel_field(name).fill(value)
                self.panel_field(name).press("Enter" if enter and index == len(items) - 1 else "Tab")
        self.page.wait_for_selector("#inspector .panel-saved")
        self.wait_compiled()

    def tick(self, name: str) -> None:
        """Tick a checkbox of the open panel and wait for the answer to it: a `.panel-saved` already shown by an
        earlier change must not count."""
        with self.panel_swap():
            self.panel_field(name).check()
        self.page.wait_for_selector("#inspector .panel-saved")
        self.wait_compiled()

    @contextlib.contextmanager
    def panel_swap(self) -> Iterator[None]:
        """Until the server has answered every inspector request the action started (they leave at once, in
        order), so the next field typed into shows the answer."""
        yield
        self.page.wait_for_function("() => document.getElementById('app').dataset.inspectorBusy === '0'")

    # --- adding things -------------------------------------------------------------------------------------

    def add_namespace(self, name: str) -> None:
        with self.panel_swap():
            self.page.click("#palette [data-add=namespace]")
        self.apply_panel(name=name)

    def add_workload(self, name: str) -> None:
        """A workload in the namespace selected last (a new namespace is selected after it is named)."""
        with self.panel_swap():
            self.page.click("#palette [data-add=workload]")
        assert self.page.locator("#inspector .panel-kicker").inner_text() == "WORKLOAD"
        self.apply_panel(name=name)

    def use_template(self, name: str, **choices: str) -> None:
        self.page.click("#templates-menu summary")
        self.page.click(f"#templates-menu [data-template='{name}']")
        self.page.wait_for_selector("#inspector .panel-kicker:text('Template')")
        for field, value in choices.items():
            self.page.select_option(f"#inspector [name='{field}']", value)
        self.page.click("#inspector button[type=submit]")
        self.page.wait_for_selector("#inspector .panel-saved")
        self.accept_isolation()
        self.wait_compiled()

    def accept_isolation(self) -> list[str]:
        """A change that isolates workloads is asked about first: what the page says they lose, once applied."""
        self.page.wait_for_function("() => document.getElementById('app').dataset.isolation !== 'checking'")
        if not self.page.locator("#dialog .isolation-form").is_visible():
            return []
        losses = self.page.locator("#dialog .isolation-list li").all_inner_texts()
        self.page.click("#dialog [data-isolation=apply]")
        return losses

    def accept_isolation_by_keyboard(self, person: Person, then: str) -> list[str]:
        """The same from the keyboard, until `then` shows: when the change asks first, "Apply anyway" has the
        focus and Enter applies it. The question may come up while the person is still typing (the connect field
        draws the edge as soon as its text names one node), so whichever shows first is answered."""
        self.page.locator("#dialog .isolation-form").or_(self.page.locator(then)).first.wait_for()
        # A template's panel says it is saved before the page asks the server about it.
        self.page.wait_for_function("() => document.getElementById('app').dataset.isolation !== 'checking'")
        losses: list[str] = []
        if self.page.locator("#dialog .isolation-form").is_visible():
            losses = self.page.locator("#dialog .isolation-list li").all_inner_texts()
            assert self.page.evaluate("document.activeElement.dataset.isolation") == "apply"
            person.press("Enter")
        self.page.wait_for_selector(then)
        return losses

    # --- the canvas ----------------------------------------------------------------------------------------

    def node_point(self, element_id: str) -> tuple[float, float]:
        box = self.page.locator("#cy").bounding_box()
        p = self.page.evaluate(f"fencelineCy.getElementById({json.dumps(element_id)}).renderedPosition()")
        return box["x"] + p["x"], box["y"] + p["y"]

    def edge_point(self, element_id: str) -> tuple[float, float]:
        box = self.page.locator("#cy").bounding_box()
        p = self.page.evaluate(f"fencelineCy.getElementById({json.dumps(element_id)}).renderedMidpoint()")
        return box["x"] + p["x"], box["y"] + p["y"]

    def close_panel(self) -> None:
        self.page.keyboard.press("Escape")
        self.page.wait_for_selector("#inspector", state="hidden")

    def drag_edge(self, source_id: str, target_id: str) -> str:
        """Draw an edge with the mouse (Draw mode on); returns the new edge's element id."""
        self.close_panel()
        self.page.click("#draw-toggle")
        before = set(self.edge_ids())
        x1, y1 = self.node_point(source_id)
        x2, y2 = self.node_point(target_id)
        self.page.mouse.move(x1, y1)
        self.page.mouse.down()
        self.page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=8)
        self.page.mouse.move(x2, y2, steps=8)
        self.page.wait_for_timeout(250)  # edgehandles waits 120 ms over a target before it accepts it
        self.page.mouse.up()
        self.accept_isolation()
        self.page.click("#draw-toggle")
        self.page.wait_for_selector("#inspector .panel-kicker:text('Edge')")
        [new] = set(self.edge_ids()) - before
        return new

    def click_element(self, element_id: str) -> None:
        self.close_panel_if_open()
        x, y = self.edge_point(element_id) if element_id.startswith("e:") else self.node_point(element_id)
        self.page.mouse.click(x, y)

    def close_panel_if_open(self) -> None:
        if self.page.locator("#inspector").is_visible():
            self.close_panel()

    # --- reading what is shown -------------------------------------------------------------------------------

    def edge_ids(self) -> list[str]:
        return self.page.evaluate("fencelineCy.edges().map(e => e.id())")

    def graph(self) -> dict[str, Any]:
        """What the canvas shows: nodes with labels and parents, edges with their ends, labels and colour."""
        return self.page.evaluate(
            """() => ({
                nodes: fencelineCy.nodes().map(n => [n.id(), n.data('label'), n.data('parent') || null]).sort(),
                edges: fencelineCy.edges().map(e => [e.data('source'), e.data('target'), e.data('label'),
                        ['allowed', 'one-sided', 'denied', 'disabled', 'deny', 'error']
                            .filter(c => e.hasClass(c))]).sort(),
            })"""
        )

    def set_dialect(self, dialect: str) -> None:
        self.page.click(f".yaml-head [data-dialect={dialect}]")
        self.wait_compiled()

    def yaml_text(self) -> str:
        return self.page.inner_text("#yaml")

    def policies(self) -> list[dict[str, Any]]:
        return [obj for obj in yaml.safe_load_all(self.yaml_text()) if obj]

    def element_for(self, name: str) -> str:
        """The canvas id of the node whose label starts with `name` (labels are name, then kind)."""
        found = self.page.evaluate(
            "(name) => fencelineCy.nodes()"
            ".filter(n => (n.data('label') || '').split('\\n')[0] === name).map(n => n.id())",
            name,
        )
        assert len(found) == 1, f"{len(found)} nodes are called {name!r}"
        return found[0]

    def positions(self) -> dict[str, tuple[int, int]]:
        return {
            node_id: (round(x), round(y))
            for node_id, x, y in self.page.evaluate(
                "fencelineCy.nodes().filter(n => !n.isParent()).map(n => [n.id(), n.position().x, n.position().y])"
            )
        }
