"""The cluster model: workloads and their owners, namespaces, services and policy objects from manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editor.policy.manifests import Cluster, ContainerPort, read_cluster, read_paths
from editor.policy.yamlio import InputError, load_objects

FIXTURES = Path(__file__).parent.parent / "fixtures"


def cluster_of(text: str, source: str = "m.yaml") -> Cluster:
    objects, problems = load_objects(text, source)
    return read_cluster(objects, [p.one_line() for p in problems])


MANIFESTS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {team: a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {not: pod-labels}}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web-sa
      containers:
      - name: main
        ports:
        - {name: http, containerPort: 8080}
        - {name: dns, containerPort: 53, protocol: UDP}
      - name: side
        ports:
        - {containerport: 9000}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        metadata: {labels: {job: nightly}}
        spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: rs-pod-1
  namespace: shop
  labels: {app: api}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: api-5d4, controller: true}
status: {podIP: 10.1.2.3}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: rs-pod-2
  namespace: shop
  labels: {app: api}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: api-5d4, controller: true}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: lonely
  namespace: ops
  ownerReferences:
  - {kind: Node, name: node-1, controller: true}
spec: {hostNetwork: true, containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cluster-wide}
spec: {endpointSelector: {}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: calico, namespace: shop}
spec: {}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
"""


def test_workloads_from_controllers_and_pods() -> None:
    cluster = cluster_of(MANIFESTS)
    workloads = {str(w): w for w in cluster.workloads}
    assert sorted(workloads) == [
        "default/nightly[CronJob]",
        "ops/lonely[Pod]",
        "shop/api-5d4[ReplicaSet]",
        "shop/web[Deployment]",
    ]
    web = workloads["shop/web[Deployment]"]
    assert web.labels == {"app": "web"}  # the pod template's, not the Deployment's own labels
    assert web.ports == (ContainerPort("http", 8080, "TCP"), ContainerPort("dns", 53, "UDP"))
    assert web.replicas == 3
    assert web.where == "m.yaml:7"
    assert web.pods[0].service_account == "web-sa"
    api = workloads["shop/api-5d4[ReplicaSet]"]
    assert [p.name for p in api.pods] == ["rs-pod-1", "rs-pod-2"]
    assert api.replicas == 2
    assert api.pods[0].ips == ("10.1.2.3",)
    assert workloads["default/nightly[CronJob]"].labels == {"job": "nightly"}
    lonely = workloads["ops/lonely[Pod]"]  # a Node owner does not make a workload
    assert lonely.pods[0].host_network


def test_namespaces_always_carry_their_name_label_and_are_synthesised() -> None:
    cluster = cluster_of(MANIFESTS)
    assert cluster.namespaces["shop"].labels == {"team": "a", "kubernetes.io/metadata.name": "shop"}
    assert cluster.namespaces["shop"].where == "m.yaml:1"
    assert cluster.namespaces["ops"].labels == {"kubernetes.io/metadata.name": "ops"}
    assert cluster.namespaces["ops"].where is None
    assert set(cluster.namespaces) == {"default", "ops", "shop"}


def test_services_and_policies() -> None:
    cluster = cluster_of(MANIFESTS)
    [service] = cluster.services
    assert (service.namespace, service.name, service.selector) == ("shop", "web", {"app": "web"})
    assert service.ports[0].target_port == "http"
    kinds = [(p.kind, p.namespace, p.name, p.source.line) for p in cluster.policies]
    assert kinds == [
        ("NetworkPolicy", "shop", "deny", 72),
        ("CiliumClusterwideNetworkPolicy", None, "cluster-wide", 77),
    ]


def test_skipped_objects_are_warnings_with_file_and_line() -> None:
    warnings = cluster_of(MANIFESTS).warnings
    assert any(w.startswith("m.yaml:82: kind NetworkPolicy (projectcalico.org/v3)") for w in warnings)
    assert any(w.startswith("m.yaml:87: kind ConfigMap is not used") for w in warnings)
    assert "m.yaml:23: container port without a valid containerPort (1-65535); ignored" in warnings


def test_typed_lists_whose_items_omit_kind() -> None:
    text = json.dumps(
        {
            "kind": "NamespaceList",
            "apiVersion": "v1",
            "items": [{"metadata": {"name": "a", "labels": {"x": "y"}}}, {"metadata": {"name": "b"}}],
        }
    )
    cluster = cluster_of(text, "ns.json")
    assert cluster.namespaces["a"].labels == {"x": "y", "kubernetes.io/metadata.name": "a"}
    assert "b" in cluster.namespaces
    assert cluster.warnings == []


def test_owner_reference_without_kind_prints_as_pod() -> None:
    cluster = cluster_of(
        "kind: Pod\nmetadata:\n  name: p\n  ownerReferences: [{name: owner, controller: true}]\n"
        "spec: {containers: [{name: c}]}\n"
    )
    assert [str(w) for w in cluster.workloads] == ["default/owner[Pod]"]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("kind: Pod\nmetadata:\n  name: p\n  labels:\n    version: 1\n", "keys and values must be strings", 5),
        ("kind: Pod\nmetadata:\n  name: p\n  labels:\n    app: $x\n", "invalid label value '$x'", 5),
        ("kind: Deployment\nmetadata: {namespace: x}\n", "Deployment has no metadata.name", 1),
        ("kind: Namespace\nmetadata:\n  name: n\n  labels: [a]\n", "Namespace labels must be a mapping", 4),
    ],
)
def test_malformed_objects_are_input_errors(text: str, message: str, line: int) -> None:
    with pytest.raises(InputError) as caught:
        cluster_of(text)
    assert message in caught.value.message
    assert (caught.value.source, caught.value.line) == ("m.yaml", line)


WRONG_TYPES = """\
kind: Service
metadata: {name: web}
spec:
  selector: app=web
  ports:
  - {port: 80, protocol: HTTP}
  - {port: true}
  - {port: 443, targetPort: false}
---
kind: Service
metadata: {name: api}
spec: {selector: {app: api}, ports: {http: 80}}
---
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: "false"
  serviceAccountName: [sa]
  containers: [{name: c, ports: {containerPort: 80}}]
status: {podIP: 10.0.0.1, podIPs: 10.0.0.1}
---
kind: Pod
metadata: {name: q}
spec: {containers: 1.5}
"""


def test_fields_of_the_wrong_type_are_warnings_and_lose_only_themselves() -> None:
    cluster = cluster_of(WRONG_TYPES)
    web, api = cluster.services
    assert (web.selector, [(p.port, p.target_port) for p in web.ports]) == (None, [(443, None)])
    assert (api.selector, api.ports) == ({"app": "api"}, ())
    pod = cluster.workloads[0].pods[0]
    assert (pod.host_network, pod.service_account, pod.ports, pod.ips) == (False, "default", (), ("10.0.0.1",))
    assert [str(w) for w in cluster.workloads] == ["default/p[Pod]", "default/q[Pod]"]
    assert cluster.warnings == [
        "m.yaml:4: service selector must be a mapping; read as a service without selector",
        "m.yaml:6: unknown protocol 'HTTP'; service port ignored",
        "m.yaml:7: service port without a valid port (1-65535); ignored",
        "m.yaml:12: service ports must be a list, found dict; ignored",
        "m.yaml:19: container ports must be a list, found dict; ignored",
        "m.yaml:20: status.podIPs must be a list, found str; ignored",
        "m.yaml:24: containers must be a list, found float; ignored",
    ]


def test_workloads_need_object_names_and_owner_references_a_kind_and_a_name() -> None:
    cluster = cluster_of(
        "kind: Pod\nmetadata:\n  name: Web_1\n---\n"
        "kind: Pod\nmetadata:\n  name: web-1\n  ownerReferences: [{kind: [ReplicaSet], name: web, controller: true}]\n"
        "---\n"
        "kind: Pod\nmetadata:\n  name: web-2\n  ownerReferences: [{kind: ReplicaSet, name: '', controller: true}]\n"
    )
    assert [str(w) for w in cluster.workloads] == ["default/web-1[Pod]", "default/web-2[Pod]"]
    assert cluster.warnings == [
        "m.yaml:3: Pod name 'Web_1' is not an object name (a DNS subdomain: lowercase letters, digits, '-' and '.'); "
        "skipped",
        "m.yaml:8: the controller reference needs a kind and an object name; the pod is read as a workload of its own",
        "m.yaml:13: the controller reference needs a kind and an object name; the pod is read as a workload of its own",
    ]


def test_read_paths_walks_directories_and_skips_non_kubernetes_json(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pods.yml").write_text("kind: Pod\nmetadata: {name: p}\n")
    (tmp_path / "package.json").write_text('{"name": "not-kubernetes"}')
    (tmp_path / "notes.txt").write_text("kind: Pod\nmetadata: {name: ignored}\n")
    (tmp_path / "list.json").write_text('[{"kind": "Pod", "metadata": {"name": "q"}}, "text"]')
    cluster = read_paths([tmp_path])
    assert sorted(str(w) for w in cluster.workloads) == ["default/p[Pod]", "default/q[Pod]"]
    assert any("package.json:1: Object 'Kind' is missing in it: not a Kubernetes object" in w for w in cluster.warnings)
    assert any("list.json:1: expected a Kubernetes object, found str; skipped" in w for w in cluster.warnings)


def test_read_paths_errors() -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        read_paths(["/nonexistent/manifests"])


def test_corpus_pod_lists_group_by_controller() -> None:
    cluster = read_paths([FIXTURES / "netpol-analyzer/tests/core_pods_without_host_ip"])
    names = {str(w) for w in cluster.workloads}
    assert "kube-system/heapster-7df8cb8c66[ReplicaSet]" in names
    assert "default/cog-agents[DaemonSet]" in names
    calico = next(w for w in cluster.workloads if w.name == "calico-node")
    assert len(calico.pods) == 2
