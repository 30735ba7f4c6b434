"""The deployment files: Dockerfile, docker-compose.yml, .env.example and deploy/kubernetes.

There is no container engine or cluster in CI, so each file is checked against what can be checked here: the
NetworkPolicy is Fenceline's own output (re-rendered, validated and analysed against the manifests it protects),
the compose file goes through `docker compose config` when a compose tool is installed and a structural check
always, the manifests through a structural check (and `kubectl kustomize` when kubectl is installed), and the
image's start command and health check are run against a real gunicorn on loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from editor.policy.cli import main
from editor.policy.validate import validate_objects
from editor.policy.yamlio import load_documents, load_objects
from scripts.appserver import free_port

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
GRAPH = KUBE / "fenceline.graph.json"
POLICIES = {"native": KUBE / "networkpolicy.yaml", "cilium": KUBE / "networkpolicy-cilium.yaml"}
NAMESPACE = "fenceline"

# The two neighbours the graph names, as a cluster would run them: the ingress controller and the cluster DNS.
NEIGHBOURS = """\
apiVersion: v1
kind: Namespace
metadata: {name: ingress-nginx}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress-nginx-controller, namespace: ingress-nginx}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ingress-nginx}}
  template:
    metadata: {labels: {app.kubernetes.io/name: ingress-nginx}}
    spec: {containers: [{name: controller, image: ingress-nginx}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec: {containers: [{name: coredns, image: coredns, ports: [{containerPort: 53, protocol: UDP}]}]}
"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def objects(path: Path) -> list[dict[str, Any]]:
    return [document.value for document in load_documents(path.read_bytes(), str(path))]


def kube_objects() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in (KUBE / "namespace.yaml", KUBE / "postgres.yaml", KUBE / "web.yaml", KUBE / "ingress.yaml"):
        for obj in objects(path):
            found[(obj["kind"], obj["metadata"]["name"])] = obj
    return found


# --- the NetworkPolicy, made with Fenceline ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", sorted(POLICIES))
def test_the_committed_policy_is_what_fenceline_render_makes_now(capsys, dialect):
    code, out = cli(capsys, "render", str(GRAPH), "--dialect", dialect)
    assert code == 0
    assert POLICIES[dialect].read_text() == out, f"re-render it: fenceline render {GRAPH.name} --dialect {dialect}"


@pytest.mark.parametrize("dialect", sorted(POLICIES))
def test_the_committed_policy_validates(dialect):
    loaded, problems = load_objects(POLICIES[dialect].read_bytes(), POLICIES[dialect].name)
    assert problems == []
    assert {obj.kind for obj in loaded} <= {"NetworkPolicy", "CiliumNetworkPolicy"} and loaded
    assert validate_objects(loaded) == []
    assert all(obj.obj["metadata"]["namespace"] == NAMESPACE for obj in loaded)


@pytest.mark.parametrize("dialect", sorted(POLICIES))
def test_the_policy_allows_exactly_the_drawn_traffic_to_and_from_fenceline(capsys, tmp_path, dialect):
    neighbours = tmp_path / "neighbours.yaml"
    neighbours.write_text(NEIGHBOURS)
    manifests = [str(KUBE / name) for name in ("namespace.yaml", "postgres.yaml", "web.yaml")]
    code, out = cli(capsys, "connlist", *manifests, str(POLICIES[dialect]), str(neighbours))
    assert code == 0
    ours = sorted(line for line in out.splitlines() if f"{NAMESPACE}/" in line)
    assert ours == [
        "fenceline/fenceline-web[Deployment] => fenceline/fenceline-db[StatefulSet] : TCP 5432",
        "fenceline/fenceline-web[Deployment] => kube-system/coredns[Deployment] : TCP 53,UDP 53",
        "ingress-nginx/ingress-nginx-controller[Deployment] => fenceline/fenceline-web[Deployment] : TCP 8000",
    ]


def test_the_only_lint_finding_is_the_intended_one(capsys):
    # PostgreSQL resolves no names, so its egress stays closed even to DNS; the linter rightly asks about it.
    code, out = cli(capsys, "lint", "--format", "json", str(GRAPH))
    assert code == 0
    findings = json.loads(out)["findings"]
    assert [(f["rule"], f["object"]["name"]) for f in findings] == [("FL004", "fenceline-db")]


def test_the_graph_describes_the_manifests_it_protects():
    graph = json.loads(GRAPH.read_text())
    workloads = {node["name"]: node for node in graph["nodes"] if node["kind"] == "workload"}
    found = kube_objects()
    for kind, name in (("Deployment", "fenceline-web"), ("StatefulSet", "fenceline-db")):
        pod = found[(kind, name)]["spec"]["template"]
        node = workloads[name]
        assert (node["namespace"], node["owner"]) == (NAMESPACE, kind)
        assert node["labels"] == pod["metadata"]["labels"]
        ports = [(p["name"], p["containerPort"]) for c in pod["spec"]["containers"] for p in c.get("ports", [])]
        assert [(p["name"], p["port"]) for p in node["containerPorts"]] == ports


# --- Kubernetes manifests ---------------------------------------------------------------------------------------


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_every_object_lives_in_the_fenceline_namespace():
    for (kind, name), obj in kube_objects().items():
        if kind == "Namespace":
            assert name == NAMESPACE
            assert obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, (kind, name)


def test_the_web_deployment_is_stateless_replicated_probed_and_locked_down():
    found = kube_objects()
    web = found[("Deployment", "fenceline-web")]
    assert web["spec"]["replicas"] >= 2
    assert web["spec"]["selector"]["matchLabels"].items() <= web["spec"]["template"]["metadata"]["labels"].items()
    pod = web["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert [c["name"] for c in pod["initContainers"]] == ["migrate"]
    assert pod["initContainers"][0]["command"][-2:] == ["migrate", "--noinput"]
    for container in containers(web):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        assert {ref.get("secretRef", {}).get("name") for ref in container["envFrom"]} >= {"fenceline"}
    [server] = pod["containers"]
    assert server["command"] == ["gunicorn", "editor.wsgi"]
    for probe in ("readinessProbe", "livenessProbe"):
        get = server[probe]["httpGet"]
        assert (get["path"], get["port"]) == ("/healthz", "http")
        assert {"name": "Host", "value": "localhost"} in get["httpHeaders"]
    assert "localhost" in found[("ConfigMap", "fenceline")]["data"]["ALLOWED_HOSTS"].split(",")
    mounted = {mount["mountPath"] for mount in server["volumeMounts"]}
    assert "/tmp" in mounted


def test_services_and_budgets_select_the_right_pods_on_named_ports():
    found = kube_objects()
    for service_name, workload_key in (
        ("fenceline-web", ("Deployment", "fenceline-web")),
        ("fenceline-db", ("StatefulSet", "fenceline-db")),
    ):
        service = found[("Service", service_name)]
        labels = found[workload_key]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        names = {p["name"] for c in containers(found[workload_key]) for p in c.get("ports", [])}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= names
    budget = found[("PodDisruptionBudget", "fenceline-web")]
    assert budget["spec"]["selector"] == found[("Deployment", "fenceline-web")]["spec"]["selector"]
    backend = found[("Ingress", "fenceline")]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "fenceline-web"


def test_postgres_keeps_its_data_on_a_claim_and_takes_its_password_from_the_secret():
    db = kube_objects()[("StatefulSet", "fenceline-db")]
    assert db["spec"]["replicas"] == 1 and db["spec"]["serviceName"] == "fenceline-db"
    [claim] = db["spec"]["volumeClaimTemplates"]
    [server] = db["spec"]["template"]["spec"]["containers"]
    assert server["image"] == "postgres:16"
    assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/postgresql/data"} in server["volumeMounts"]
    env = {item["name"]: item for item in server["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "fenceline", "key": "POSTGRES_PASSWORD"}
    assert server["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert db["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_secret_example_has_every_key_the_pods_read():
    [secret] = objects(KUBE / "secret.example.yaml")
    assert (secret["kind"], secret["metadata"]["name"], secret["metadata"]["namespace"]) == (
        "Secret",
        "fenceline",
        NAMESPACE,
    )
    assert set(secret["stringData"]) == {"SECRET_KEY", "POSTGRES_PASSWORD", "DATABASE_URL"}
    assert secret["stringData"]["DATABASE_URL"].endswith("@fenceline-db:5432/fenceline")


def test_kustomization_lists_files_that_exist():
    [kustomization] = objects(KUBE / "kustomization.yaml")
    assert "networkpolicy.yaml" in kustomization["resources"]
    assert "secret.example.yaml" not in kustomization["resources"]  # people apply their own copy
    for name in kustomization["resources"]:
        assert (KUBE / name).is_file(), name


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_the_manifests():
    result = subprocess.run(["kubectl", "kustomize", str(KUBE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [d.value for d in load_documents(result.stdout, "kustomize")]
    kinds = sorted(obj["kind"] for obj in rendered)
    assert kinds.count("NetworkPolicy") == 2 and "Deployment" in kinds and "StatefulSet" in kinds
    images = {c["image"] for obj in rendered if obj["kind"] == "Deployment" for c in containers(obj)}
    assert images == {"registry.example.com/fenceline:latest"}


# --- docker compose and .env.example ----------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines())
    return {key: value for key, value in (p for p in pairs if len(p) == 2) if not key.startswith("#")}


def test_compose_has_web_and_a_health_checked_postgres_with_a_named_volume():
    [compose] = objects(ROOT / "docker-compose.yml")
    web, db = compose["services"]["web"], compose["services"]["db"]
    assert db["image"] == "postgres:16"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    [volume] = db["volumes"]
    assert volume.split(":")[0] in compose["volumes"]
    assert volume.split(":")[1] == "/var/lib/postgresql/data"
    assert web["build"] == "."
    assert web["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert web["environment"]["DATABASE_URL"].startswith("postgres://fenceline:${POSTGRES_PASSWORD")
    assert web["environment"]["DATABASE_URL"].endswith("@db:5432/fenceline")
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert "ports" not in web  # reached through the buffering proxy only
    assert web["read_only"] is True and web["cap_drop"] == ["ALL"]


def test_compose_puts_a_health_checked_buffering_nginx_in_front():
    [compose] = objects(ROOT / "docker-compose.yml")
    proxy = compose["services"]["proxy"]
    assert proxy["build"] == "deploy/nginx"
    assert proxy["depends_on"] == {"web": {"condition": "service_healthy"}}
    assert "/nginx-health" in " ".join(proxy["healthcheck"]["test"])
    assert all(port.startswith("127.0.0.1:") and port.endswith(":8080") for port in proxy["ports"])
    assert proxy["read_only"] is True and proxy["cap_drop"] == ["ALL"]
    assert compose["services"]["web"]["environment"]["FENCELINE_TRUSTED_PROXIES"] == "1"
    dockerfile = (ROOT / "deploy" / "nginx" / "Dockerfile").read_text()
    assert "FROM debian:bookworm-slim" in dockerfile and "nginx-light" in dockerfile and "USER www-data" in dockerfile
    config = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    for directive in ("proxy_request_buffering on;", "client_body_timeout 10s;", "server web:8000;", "listen 8080;"):
        assert directive in config


def test_env_example_names_every_variable_compose_reads_and_only_settings_that_exist():
    example = env_example()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert set(re.findall(r"\$\{(\w+)", compose)) <= set(example)
    assert example["SECRET_KEY"] == "" and example["POSTGRES_PASSWORD"] == ""  # never a shared default secret
    settings = (ROOT / "editor" / "settings.py").read_text()
    read_elsewhere = {"POSTGRES_PASSWORD", "FENCELINE_PORT", "WEB_CONCURRENCY"}  # compose and gunicorn read these
    for name in set(example) - read_elsewhere:
        assert f'"{name}"' in settings, f"{name} in .env.example is not read by editor/settings.py"
    assert "localhost" in example["ALLOWED_HOSTS"].split(",")


def compose_command() -> list[str] | None:
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if plugin.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(compose_command() is None, reason="neither `docker compose` nor docker-compose is installed")
def test_docker_compose_config_passes_with_the_example_env_filled_in(tmp_path):
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copytree(ROOT / "deploy" / "nginx", tmp_path / "deploy" / "nginx")  # the proxy's build context
    filled = {**env_example(), "SECRET_KEY": "a" * 50, "POSTGRES_PASSWORD": "secret123"}
    (tmp_path / ".env").write_text("".join(f"{key}={value}\n" for key, value in filled.items()))
    command = [*compose_command(), "config"]  # type: ignore[misc]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    config = load_documents(result.stdout, "compose config")[0].value
    assert (
        config["services"]["web"]["environment"]["DATABASE_URL"] == "postgres://fenceline:secret123@db:5432/fenceline"
    )
    assert config["services"]["web"]["environment"]["SECRET_KEY"] == "a" * 50


def test_compose_config_refuses_a_missing_password(tmp_path):
    if compose_command() is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text("SECRET_KEY=x\n")
    result = subprocess.run([*compose_command(), "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60)  # type: ignore[misc]
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in result.stderr


# --- Dockerfile -------------------------------------------------------------------------------------------------


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text().replace("\\\n", " ")


def dockerfile_env(name: str) -> str:
    match = re.search(rf'\b{name}=("[^"]*"|\S+)', dockerfile())
    assert match, name
    return match.group(1).strip('"')


def test_the_dockerfile_builds_in_stages_and_runs_unprivileged():
    text = dockerfile()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    assert stages == [("node:20-bookworm", "frontend"), ("python:3.11-slim", "wheels"), ("python:3.11-slim", "")]
    assert "npm ci" in text and "pip wheel" in text and "manage.py collectstatic" in text
    [user] = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert not user.startswith(("0", "root"))
    assert int(user.split(":")[0]) >= 1000  # numeric, so Kubernetes' runAsNonRoot can verify it
    final = text.rsplit("\nFROM ", 1)[1]
    assert "node_modules" not in final.replace("--from=frontend /src/static/vendor", "")
    assert re.search(r"^HEALTHCHECK .*/healthz", text, re.MULTILINE)
    assert re.search(r'^CMD .*exec gunicorn editor\.wsgi"\]$', text, re.MULTILINE)


def test_the_image_gets_the_compiled_flow_reader_built_in_a_stage_with_a_compiler():
    text = dockerfile()
    build, final = text.split("\nFROM python:3.11-slim AS wheels", 1)[1].rsplit("\nFROM ", 1)
    assert "apt-get install" in build and " gcc " in build
    assert "python setup.py build_ext --build-lib /compiled" in build
    assert "['build-system']['requires']" in build  # Cython as pyproject.toml pins it
    assert "gcc" not in final and "apt-get" not in final and "Cython" not in final
    assert re.search(r"^COPY --from=wheels /compiled/editor/ \./editor/$", final, re.MULTILINE)
    # the build fails when a compiled module does not load
    assert "assert aggregate.COMPILED" in final and "assert graph._compiled" in final
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"editor/**/*.so", "editor/**/*.c"} <= set(ignored)  # the host's build stays out


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "node_modules", ".env", "db.sqlite3", "staticfiles"} <= ignored


def test_the_image_ships_the_rule_pages_it_serves():
    final = dockerfile().rsplit("\nFROM ", 1)[1]
    assert re.search(r"^COPY docs/rules \./docs/rules$", final, re.MULTILINE)
    lines = (ROOT / ".dockerignore").read_text().split()
    assert "docs" not in lines and "docs/*" in lines
    assert lines.index("!docs/rules") > lines.index("docs/*")  # the later line wins


def test_the_image_start_command_serves_and_its_health_check_passes(tmp_path):
    """gunicorn with the image's GUNICORN_CMD_ARGS (bound to loopback here), probed by the HEALTHCHECK command."""
    port = free_port()
    arguments = dockerfile_env("GUNICORN_CMD_ARGS").replace("--bind=0.0.0.0:8000", f"--bind=127.0.0.1:{port}")
    env = {
        **os.environ,
        "GUNICORN_CMD_ARGS": arguments,
        "WEB_CONCURRENCY": dockerfile_env("WEB_CONCURRENCY"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fenceline.sqlite3'}",
        "SECRET_KEY": "test-" + "k" * 50,
        "DEBUG": "",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "editor.wsgi"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": "localhost"}), timeout=2):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.2)
        [check] = re.findall(r"^HEALTHCHECK .*?CMD (\[.*\])$", dockerfile(), re.MULTILINE)
        command = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in json.loads(check)]
        command[0] = sys.executable
        assert subprocess.run(command, timeout=30).returncode == 0
        compose_check = objects(ROOT / "docker-compose.yml")[0]["services"]["web"]["healthcheck"]["test"]
        assert compose_check == ["CMD", *json.loads(check)]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert "Control server error" not in (tmp_path / "gunicorn.log").read_text()
