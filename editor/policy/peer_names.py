"""Peers as people read them on screen: `Any IP address` for the whole IPv4 space, CIDRs for address ranges.

The analyser prints peers in netpol-analyzer's format (`0.0.0.0-255.255.255.255[External]`, `ns/name[Kind]`),
which the CLI keeps so that its connlist compares with netpol-analyzer's. Pages show these names instead.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

_RANGE = re.compile(r"^(?P<first>[0-9a-fA-F.:]+)-(?P<last>[0-9a-fA-F.:]+)\[External\]$")
_TAGGED = re.compile(r"^(?P<name>.+)\[(?P<tag>[A-Za-z-]+)\]$")
_WHOLE = {4: "Any IP address", 6: "Any IPv6 address"}


def address_range(
    first: ipaddress.IPv4Address | ipaddress.IPv6Address, last: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> str:
    """An address range as its CIDRs (`10.0.0.0/8`), `Any IP address` for the whole IPv4 space."""
    network = ipaddress.ip_network(f"{first}/0", strict=False)
    if first == network.network_address and last == network.broadcast_address:
        return _WHOLE[first.version]
    return ", ".join(str(block) for block in ipaddress.summarize_address_range(first, last))


def display_peer(text: str) -> str:
    """An analyser peer name (`a-b[External]`, `ns/name[Kind]`, `world[Entity]`, `x.com[FQDN]`) for a page."""
    found = _RANGE.match(text)
    if found:
        try:
            first, last = ipaddress.ip_address(found["first"]), ipaddress.ip_address(found["last"])
        except ValueError:
            return text
        # Compared as integers: addresses of two families do not compare, so the family is checked first.
        if first.version == last.version and int(first) <= int(last):
            return address_range(first, last)
        return text
    tagged = _TAGGED.match(text)
    if tagged and tagged["tag"] == "Entity":
        return f"{tagged['name']} (Cilium entity)"
    if tagged:
        return tagged["name"]
    return text


_RANGE_IN_TEXT = re.compile(r"[0-9a-fA-F.:]+-[0-9a-fA-F.:]+\[External\]")


def readable_text(text: str) -> str:
    """`text` with every analyser address range in it (`0.0.0.0-255.255.255.255[External]`) as people read it."""
    return _RANGE_IN_TEXT.sub(lambda found: display_peer(found[0]), text)


def readable(value: Any, keep: frozenset[str] = frozenset({"name"})) -> Any:
    """A JSON answer with `readable_text` applied to every string, except under the keys in `keep` (the analyser's
    names that clients send back to refer to a peer)."""
    if isinstance(value, str):
        return readable_text(value)
    if isinstance(value, list):
        return [readable(item, keep) for item in value]
    if isinstance(value, dict):
        return {key: item if key in keep else readable(item, keep) for key, item in value.items()}
    return value


def labels(names: Iterable[str]) -> dict[str, str]:
    """Analyser name -> what a page shows for it, for the address ranges (workload names read as they are)."""
    return {name: shown for name in names if (shown := readable_text(name)) != name}
