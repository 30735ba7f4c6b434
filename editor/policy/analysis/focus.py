"""Focus: the part of an analysis a question is about, as netpol-analyzer's focus options select it.

`--focusworkload` keeps connections with a focus workload at one end (a workload is named `name` or `ns/name`);
`--focusworkload-peer` keeps, of those, the ones whose other end is one of these workloads; `--focus-direction`
keeps the focus workload's ingress (it is the destination) or egress (it is the source) only; `--focus-conn
tcp-8080` keeps the connections that allow that protocol and port, printed without their connection sets.
"""

from __future__ import annotations

import dataclasses

from ..yamlio import InputError
from .connections import MAX_PORT, MIN_PORT, PROTOCOLS, ConnectionSet
from .peers import Peer, WorkloadPeer


@dataclasses.dataclass(frozen=True)
class FocusConn:
    protocol: str  # TCP, UDP or SCTP
    port: int

    @staticmethod
    def parse(text: str) -> FocusConn:
        protocol, _, port = text.partition("-")
        if protocol.upper() not in PROTOCOLS or not port.isdigit() or not MIN_PORT <= int(port) <= MAX_PORT:
            raise InputError(
                f"invalid focus connection {text!r}: expected <protocol>-<port>, protocol one of tcp, udp, sctp and "
                "port in 1-65535 (e.g. tcp-8080)",
                "--focus-conn",
            )
        return FocusConn(protocol.upper(), int(port))

    def __str__(self) -> str:
        return f"{self.protocol} {self.port}"

    def within(self, conns: ConnectionSet) -> bool:
        return conns.allows(self.protocol, self.port)


@dataclasses.dataclass(frozen=True)
class Focus:
    workloads: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
    direction: str | None = None  # "ingress" or "egress"; applies only with focus workloads
    conn: FocusConn | None = None

    def __post_init__(self) -> None:
        if self.direction not in (None, "ingress", "egress"):
            raise InputError(f"invalid focus direction {self.direction!r}: use ingress or egress", "--focus-direction")
        if self.peers and not self.workloads:
            raise InputError("--focusworkload-peer needs --focusworkload", "--focusworkload-peer")

    @property
    def active(self) -> bool:
        return bool(self.workloads or self.conn)

    def is_focus(self, peer: Peer) -> bool:
        return _named(peer, self.workloads)

    def keeps(self, src: Peer, dst: Peer, conns: ConnectionSet | None = None) -> bool:
        """Whether the connection src => dst (allowing `conns`) is in focus."""
        if conns is not None and self.conn is not None and not self.conn.within(conns):
            return False
        if not self.workloads:
            return True
        as_src = self.direction != "ingress" and self.is_focus(src) and (not self.peers or _named(dst, self.peers))
        as_dst = self.direction != "egress" and self.is_focus(dst) and (not self.peers or _named(src, self.peers))
        return as_src or as_dst

    def keeps_side(self, workload: Peer, direction: str) -> bool:
        """Whether the exposure of `workload` in `direction` ("Ingress"/"Egress") is in focus."""
        if not self.workloads:
            return True
        return self.is_focus(workload) and self.direction in (None, direction.lower())


def _named(peer: Peer, names: tuple[str, ...]) -> bool:
    return isinstance(peer, WorkloadPeer) and any(n in (peer.name, f"{peer.namespace}/{peer.name}") for n in names)
