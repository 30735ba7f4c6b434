"""Probes: may this pod open this connection to that pod or address, and which tier, policy and rule decide.

Pods are found by name (`namespace/pod`; a workload name also works for a controller without Pod objects). A
pod's addresses are `status.podIPs` (or `status.podIP`); a host-network pod has its node's addresses. A probe to
an address that belongs to a pod or a node is a probe to that pod or node.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Any

from ..analysis import Options, analyse
from ..manifests import NAMESPACE_NAME_LABEL, PROTOCOLS, Pod, Workload
from ..yamlio import InputError
from .inputs import PlatformInputs
from .middle import NetworkPolicyTier
from .tiers import Decision, Endpoint, TierEvaluator


@dataclasses.dataclass(frozen=True)
class Probe:
    source: str
    target: str
    protocol: str
    port: int


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    allowed: bool
    egress: Decision | None  # None: the source is not a pod in the pod network
    ingress: Decision | None

    def line(self) -> str:
        p = self.probe
        head = f"{'allowed' if self.allowed else 'denied'} {p.source} -> {p.target} {p.protocol}/{p.port}"
        sides = [d for d in (self.egress, self.ingress) if d is not None]
        # a denial is explained by the side that denied; an allowed connection by both sides
        deciding = [d for d in sides if not d.allowed] if not self.allowed else sides
        return f"{head}: " + "; ".join(str(d) for d in deciding) if deciding else f"{head}: no policy applies"


def read_probes(data: Any, source: str) -> list[Probe]:
    """The `--probes` file: a JSON list of {"from", "to", "protocol", "port"} (other keys ignored)."""
    if not isinstance(data, list):
        raise InputError("a probes file must hold a JSON list of {from, to, protocol, port}", source)
    return [check_probe(entry, f"{source}[{index}]") for index, entry in enumerate(data)]


def check_probe(entry: Any, where: str) -> Probe:
    if not isinstance(entry, dict):
        raise InputError("a probe must be an object with from, to, protocol and port", where)
    missing = [k for k in ("from", "to", "port") if k not in entry]
    if missing:
        raise InputError(f"a probe needs {', '.join(missing)}", where)
    protocol = str(entry.get("protocol") or "TCP").upper()
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol {entry.get('protocol')!r} is not TCP, UDP or SCTP", where)
    port = entry["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InputError(f"port {port!r} is not a number in 1-65535", where)
    if not isinstance(entry["from"], str) or not isinstance(entry["to"], str):
        raise InputError("from and to must be strings (namespace/pod, or an IP address for to)", where)
    return Probe(entry["from"], entry["to"], protocol, port)


class Prober:
    def __init__(self, inputs: PlatformInputs, options: Options | None = None) -> None:
        self.inputs = inputs
        analysis = analyse(inputs.cluster, options or Options())
        self.warnings = [*inputs.warnings, *analysis.warnings]
        self.evaluator = TierEvaluator(inputs.policies, NetworkPolicyTier(analysis))
        self.pods: dict[str, tuple[Pod, Workload]] = {}
        for workload in inputs.cluster.workloads:
            for pod in workload.pods:
                self.pods.setdefault(f"{pod.namespace}/{pod.name}", (pod, workload))
            self.pods.setdefault(f"{workload.namespace}/{workload.name}", (workload.pods[0], workload))

    def endpoint(self, text: str, as_source: bool) -> Endpoint:
        found = self.pods.get(text)
        if found is not None:
            return self._pod(*found)
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            what = "a pod (namespace/pod)" if as_source else "a pod (namespace/pod) or an IP address"
            raise InputError(f"{text!r} is not {what} of the inputs", "probe") from None
        if as_source:
            raise InputError(f"{text!r}: a probe starts at a pod (namespace/pod)", "probe")
        for pod, workload in self.pods.values():
            if str(address) in self._ips(pod) and not pod.host_network:
                return self._pod(pod, workload)
        node = next((n for n in self.inputs.nodes.values() if str(address) in n.ips), None)
        return Endpoint((str(address),), node=node)

    def _ips(self, pod: Pod) -> tuple[str, ...]:
        node = self.inputs.nodes.get(self.inputs.pod_nodes.get((pod.namespace, pod.name), ""))
        if pod.host_network and node is not None:
            return node.ips
        return pod.ips

    def _pod(self, pod: Pod, workload: Workload) -> Endpoint:
        namespace = self.inputs.cluster.namespaces.get(pod.namespace)
        labels = {**(namespace.labels if namespace else {}), NAMESPACE_NAME_LABEL: pod.namespace}
        node = self.inputs.nodes.get(self.inputs.pod_nodes.get((pod.namespace, pod.name), ""))
        return Endpoint(
            self._ips(pod),
            pod.namespace,
            pod.name,
            pod.labels,
            labels,
            pod.ports,
            pod.host_network,
            node if pod.host_network else None,
            workload,
        )

    def run(self, probe: Probe) -> ProbeResult:
        src = self.endpoint(probe.source, as_source=True)
        dst = self.endpoint(probe.target, as_source=False)
        if dst.host_network and not dst.ips:
            raise InputError(f"{probe.target} is a host-network pod on a node without known addresses", "probe")
        egress = self.evaluator.decide("Egress", src, dst, probe.protocol, probe.port) if src.in_pod_network else None
        ingress = None
        if dst.in_pod_network:
            ingress = self.evaluator.decide("Ingress", dst, src, probe.protocol, probe.port)
        allowed = all(d.allowed for d in (egress, ingress) if d is not None)
        return ProbeResult(probe, allowed, egress, ingress)


def load_probes_file(text: str, source: str) -> list[Probe]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", source, exc.lineno) from None
    return read_probes(data, source)
