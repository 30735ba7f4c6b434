"""The lint rules' why pages: docs/rules/*.md served by the app, every character of them escaped."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from editor.markdown import render
from editor.policy.lint import RULES

HOSTILE = "<img src=x onerror=alert(1)>"


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    assert "script-src 'self'" in response["Content-Security-Policy"]
    return response.content.decode()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_has_its_page(client, rule):
    html = page(client, f"/rules/{rule}")
    assert f"<h1>{rule} {RULES[rule].slug}</h1>" in html
    assert "<h2>Why it matters</h2>" in html


def test_a_page_keeps_its_code_emphasis_and_links(client):
    html = page(client, "/rules/FL005")
    assert "<pre><code>egress:\n  - to:\n      - ipBlock: {cidr: 192.168.1.22/32}\n" in html
    assert "<strong>every port</strong>" in html
    assert "<code>cilium/networkpolicy tutorials/combine-policy-rules.md</code>" in html
    index = page(client, "/rules/")
    assert '<a href="/rules/FL001">FL001</a>' in index
    assert '<a href="/rules/rating">rating.md</a>' in index
    assert "<table>" in index and "<td>rules-outside-policytypes</td>" in index
    first = page(client, "/rules/FL001")
    assert '<a href="https://github.com/cilium/cilium/issues/48703" rel="noopener noreferrer">' in first
    rating = page(client, "/rules/rating")
    assert "<th>weight</th>" in rating and "<code>ingress-isolated</code>" in rating


def test_nothing_in_the_markdown_becomes_markup():
    source = "\n".join(
        [
            f"# Title {HOSTILE}",
            f"Text <script>alert(1)</script> and `{HOSTILE}` and **{HOSTILE}**",
            "[click](javascript:alert(1)) [data](data:text/html,x) [up](../SEMANTICS.md) [ok](FL004.md)",
            f"- item {HOSTILE}",
            f"| a | b |\n|---|---|\n| {HOSTILE} | `x|y` |",
            f"```\n{HOSTILE}\n```",
        ]
    )
    html = render(source, lambda url: "/rules/FL004" if url == "FL004.md" else None)
    tags = set(re.findall(r"</?([a-z0-9]+)", html))
    assert tags <= {"h1", "p", "code", "strong", "a", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "pre"}
    assert re.findall(r'href="([^"]*)"', html) == ["/rules/FL004"]
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") == 6
    assert "<td><code>x|y</code></td>" in html


def test_a_page_missing_on_the_server_still_says_what_the_rule_is(client, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    html = page(client, "/rules/FL004")
    assert RULES["FL004"].summary.replace("'", "&#x27;") in html
    assert "is not installed on this server" in html


def test_unknown_pages_and_other_methods(client):
    assert client.get("/rules/FL999").status_code == 404
    assert client.get("/rules/README").status_code == 404
    assert client.get("/rules/../settings.py").status_code == 404
    assert client.post("/rules/FL001").status_code in (403, 405)


@pytest.mark.parametrize("rule", [*sorted(RULES), "rating", ""])
def test_no_page_cites_the_projects_internal_spec_documents(client, rule):
    """People read the upstream sources the pages cite; the project's own SEMANTICS.md / FLOWS.md and their
    section marks mean nothing to them (issue 10, finding 12)."""
    html = page(client, f"/rules/{rule}")
    assert not re.search(r"SEMANTICS|FLOWS\.md|DESIGN\.md|§", html)
