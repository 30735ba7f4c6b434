"""ICMP type 0 in a Cilium `icmps` field: every ICMP type of its family, as Cilium enforces it.

Cilium makes an ICMP field's type the port of an L4 filter of protocol ICMP or ICMPv6 (cilium/cilium
pkg/policy/api/icmp.go ICMPField.PortProtocol), and port 0 is its wildcard (pkg/policy/l4.go createL4Filter): type
0, IPv4's EchoReply or the number 0 in either family, allows (in a deny rule, denies) every type of its family
(cilium/cilium#41304, open, kind/bug). The analyser reads it so (analysis/parse_cilium.py), drift counts a drawn one
so (flows/staging.py) and the linter says so (FL026, lint/cilium.py), in the one wording of `wildcard_text`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .document import icmp_protocol, icmp_type_number
from .model import Path, Rule


def is_icmp_wildcard(icmp: Any) -> bool:
    """Whether an `icmps` field (of a policy or a drawn edge) is type 0 of IPv4 or IPv6."""
    return isinstance(icmp, dict) and icmp.get("family") in (None, "IPv4", "IPv6") and icmp_type_number(icmp) == 0


def icmp_wildcards(rule: Rule) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, field) of each `icmps` field of a Cilium rule that is type 0."""
    for i, item in enumerate(rule.icmps if isinstance(rule.icmps, list) else ()):
        fields = item.get("fields") if isinstance(item, dict) else None
        for j, field in enumerate(fields if isinstance(fields, list) else ()):
            if is_icmp_wildcard(field):
                yield (*rule.path, "icmps", i, "fields", j), field


def wildcard_text(field: dict[str, Any], deny: bool) -> str:
    """What Cilium does with a type-0 field of an allow (`deny` False) or deny rule, and what to write instead."""
    protocol, written = icmp_protocol(field), field.get("type")
    kind = f"{written} (type 0)" if isinstance(written, str) and not written.isdecimal() else "type 0"
    verb, does = ("deny", "denies") if deny else ("allow", "allows")
    said = (
        f"{kind} is every {protocol} type to Cilium, its port 0 being a wildcard (cilium/cilium#41304): "
        f"this {does} them all"
    )
    if protocol == "ICMPv6":
        return f"{said}; write the types meant instead (EchoReply is 129 in ICMPv6), or none"
    return (
        f"{said}; no rule can {verb} echo replies alone, and the replies to an allowed echo request pass anyway "
        "(connection tracking): remove this type, or write the types meant instead"
    )
