"""The small Markdown of docs/rules/*.md as HTML that cannot carry markup of its own.

The rule pages are written in plain Markdown: headings, paragraphs, lists, tables, fenced code, inline code,
emphasis and links. Every character of the source is escaped, so a `<script>` or an `onerror=` in a page (or
in a label quoted by one) shows as text; links keep only http(s) addresses, in-page anchors and the other
rule pages (`FL004.md` -> the page that serves it), so a `javascript:` link becomes plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.utils.html import escape

LinkTarget = Callable[[str], str | None]  # a relative link such as "FL001.md" -> its address, None to drop it

_FENCE = re.compile(r"^\s*(```+|~~~+)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_INLINE = re.compile(
    r"(?P<ticks>`+)(?P<code>.+?)(?P=ticks)"
    r"|\[(?P<text>[^\]]+)\]\((?P<url>[^)\s]+)\)"
    r"|\*\*(?P<strong>.+?)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<em2>[^_\s](?:[^_]*[^_\s])?)_(?![\w_])"
)
_SCHEMES = ("https://", "http://")


def render(source: str, link_target: LinkTarget) -> str:
    """HTML for `source`; only the tags this function writes ever appear in it."""
    return _Renderer(link_target).render(source.replace("\r\n", "\n").split("\n"))


class _Renderer:
    def __init__(self, link_target: LinkTarget) -> None:
        self.link_target = link_target

    def render(self, lines: list[str]) -> str:
        out: list[str] = []
        paragraph: list[str] = []
        index = 0

        def flush() -> None:
            if paragraph:
                out.append(f"<p>{self.inline(' '.join(line.strip() for line in paragraph))}</p>")
                paragraph.clear()

        while index < len(lines):
            line = lines[index]
            if not line.strip():
                flush()
                index += 1
            elif fence := _FENCE.match(line):
                flush()
                index = self.code_block(lines, index, fence.group(1), out)
            elif heading := _HEADING.match(line):
                flush()
                level = len(heading.group(1))
                out.append(f"<h{level}>{self.inline(heading.group(2))}</h{level}>")
                index += 1
            elif line.lstrip().startswith("|") and index + 1 < len(lines) and _TABLE_RULE.match(lines[index + 1]):
                flush()
                index = self.table(lines, index, out)
            elif _ITEM.match(line) and not paragraph:
                index = self.list_block(lines, index, out)
            else:
                paragraph.append(line)
                index += 1
        flush()
        return "\n".join(out)

    def code_block(self, lines: list[str], start: int, fence: str, out: list[str]) -> int:
        index = start + 1
        body: list[str] = []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        out.append(f"<pre><code>{escape(chr(10).join(body))}</code></pre>")
        return index + 1

    def table(self, lines: list[str], start: int, out: list[str]) -> int:
        head = _cells(lines[start])
        index = start + 2
        rows: list[list[str]] = []
        while index < len(lines) and lines[index].lstrip().startswith("|"):
            rows.append(_cells(lines[index]))
            index += 1
        html = ["<table>", "<thead><tr>" + "".join(f"<th>{self.inline(c)}</th>" for c in head) + "</tr></thead>"]
        html.append("<tbody>")
        for row in rows:
            html.append("<tr>" + "".join(f"<td>{self.inline(c)}</td>" for c in row) + "</tr>")
        html.append("</tbody></table>")
        out.append("\n".join(html))
        return index

    def list_block(self, lines: list[str], start: int, out: list[str]) -> int:
        ordered = bool(_ITEM.match(lines[start]).group(2))  # type: ignore[union-attr]
        items: list[list[str]] = []
        index = start
        while index < len(lines):
            line = lines[index]
            item = _ITEM.match(line)
            if item:
                items.append([item.group(3)])
            elif line.strip() and line[:1].isspace() and items:
                items[-1].append(line.strip())  # a continuation line of the item
            else:
                break
            index += 1
        tag = "ol" if ordered else "ul"
        body = "".join(f"<li>{self.inline(' '.join(parts))}</li>" for parts in items)
        out.append(f"<{tag}>{body}</{tag}>")
        return index

    def inline(self, text: str) -> str:
        out: list[str] = []
        position = 0
        for match in _INLINE.finditer(text):
            out.append(escape(text[position : match.start()]))
            if match.group("ticks"):
                out.append(f"<code>{escape(match.group('code').strip())}</code>")
            elif match.group("url"):
                out.append(self.link(match.group("text"), match.group("url")))
            elif match.group("strong"):
                out.append(f"<strong>{self.inline(match.group('strong'))}</strong>")
            else:
                out.append(f"<em>{self.inline(match.group('em') or match.group('em2'))}</em>")
            position = match.end()
        out.append(escape(text[position:]))
        return "".join(out)

    def link(self, text: str, url: str) -> str:
        inner = self.inline(text)
        if url.lower().startswith(_SCHEMES):
            return f'<a href="{escape(url)}" rel="noopener noreferrer">{inner}</a>'
        if url.startswith("#"):
            return f'<a href="{escape(url)}">{inner}</a>'
        target = self.link_target(url)
        return f'<a href="{escape(target)}">{inner}</a>' if target else inner


def _cells(line: str) -> list[str]:
    """The cells of a table row; a `|` inside a code span belongs to the cell."""
    text = line.strip()
    text = text[1:] if text.startswith("|") else text
    text = text[:-1] if text.endswith("|") and not text.endswith("\\|") else text
    cells, current, ticks = [], [], False
    for char in text:
        if char == "`":
            ticks = not ticks
        if char == "|" and not ticks:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    cells.append("".join(current).strip())
    return cells
