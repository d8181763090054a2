"""deploy/kubernetes describes the production system on Kubernetes: checked offline, without
kubectl or a cluster.

The kustomization is rendered here as `kubectl apply -k` would: its `resources` read in order
(every YAML document of each file), then its two transformers applied by hand, `namespace:` on
every namespaced object and `images:` on every container. Any other kustomize feature in
kustomization.yaml fails the test, since this renderer would ignore it (when written, its output
was `kubectl kustomize`'s, kustomize v5.5.0, document for document). Every document, and
secret.example.yaml, is then validated against the Kubernetes API's JSON schemas bundled in the
`kubernetes-validate` package (`kubernetes_validate.validate`, strict: an unknown field is an
error), for a fixed oldest and newest Kubernetes version. Then the promises: probes and resources
on every workload, every secret read from the Secret by its key, autoscalers, disruption
budgets, Services and the Ingress pointing at what exists, the Jobs, the security context, and
agreement with docker-compose.yml and the measured memory figures.

Each check returns the problems it finds; `test_each_check_catches_a_broken_manifest` breaks a
copy of the manifests in a temporary folder, one mistake at a time, and sees the check report it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.settings import ROOT

BASE = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests are meant for, and the newest the package knows.
KUBERNETES_VERSIONS = ("1.32", "1.37")
NAMESPACE = "neetbot"
SECRET = "neetbot-secrets"
UID = 1000  # the user of both images (deploy/Dockerfile.*)
CLUSTER_SCOPED = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "IngressClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "CustomResourceDefinition",
}
WORKLOADS = ("Deployment", "StatefulSet")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|DATABASE_URL|STORE_URL")
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]*:[^/@\s]+@")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
LONG_RUNNING = ("rasa", "actions", "telegram", "dashboard")  # in compose and here, by name

Document = dict[str, Any]


# The renderer


def load_documents(path: Path) -> list[Document]:
    """The YAML documents of a file (empty ones left out)."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def pod_spec(doc: Document) -> Document | None:
    """The pod template's spec of a workload, Job or CronJob."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if doc["kind"] in (*WORKLOADS, "Job", "DaemonSet", "ReplicaSet"):
        return spec["template"]["spec"]
    return None


def containers(spec: Document) -> list[Document]:
    """Every container of a pod spec, the init containers first."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def retag(image: str, images: dict[str, Document]) -> str:
    """kustomize's `images:` transform of one image reference."""
    name, digest = image.split("@", 1) if "@" in image else (image, "")
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    entry = images.get(name)
    if entry is None:
        return image
    name = entry.get("newName", name)
    if "digest" in entry:
        return f"{name}@{entry['digest']}"
    tag = entry.get("newTag", tag)
    return f"{name}:{tag}" if tag else (f"{name}@{digest}" if digest else name)


def render(base: Path = BASE) -> list[Document]:
    """What `kubectl kustomize base` gives for this kustomization."""
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(kustomization) - {"apiVersion", "kind", "namespace", "resources", "images"}
    assert not unsupported, f"this renderer does not apply {sorted(unsupported)}"
    docs = [doc for name in kustomization["resources"] for doc in load_documents(base / name)]
    namespace = kustomization.get("namespace")
    images = {entry["name"]: entry for entry in kustomization.get("images", [])}
    for doc in docs:
        if namespace and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = namespace
        spec = pod_spec(doc)
        for container in containers(spec) if spec else []:
            container["image"] = retag(container["image"], images)
    return docs


DOCS = render()
TEMPLATE = load_documents(BASE / "secret.example.yaml")


def find(docs: list[Document], kind: str, name: str) -> Document | None:
    return next((d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name), None)


def of_kind(docs: list[Document], *kinds: str) -> list[Document]:
    return [doc for doc in docs if doc["kind"] in kinds]


def pod_specs(docs: list[Document]) -> Iterator[tuple[str, Document]]:
    for doc in docs:
        spec = pod_spec(doc)
        if spec is not None:
            yield f"{doc['kind']} {doc['metadata']['name']}", spec


def mebibytes(quantity: str) -> float:
    """A memory quantity ("512Mi", "2Gi", "1500M") in MiB."""
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(quantity)).groups()  # type: ignore[union-attr]
    factor = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "": 2**-20}
    return float(number) * factor[unit]


def strings(value: Any) -> Iterator[str]:
    """Every string inside a document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


# The checks: each returns what is wrong (nothing, for the manifests as they are)


def schema_problems(docs: list[Document], version: str) -> list[str]:
    problems = []
    for doc in docs:
        where = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{where}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{where}: {error.message}")
    return problems


def rendering_problems(docs: list[Document]) -> list[str]:
    """The transforms reached every object and every image."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    tags = {entry["name"]: entry["newTag"] for entry in kustomization["images"]}
    problems = []
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "Namespace":
            if name != NAMESPACE:
                problems.append(f"Namespace {name} is not {NAMESPACE}")
        elif doc["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{doc['kind']} {name} is not in {NAMESPACE}")
    for where, spec in pod_specs(docs):
        for container in containers(spec):
            if container["image"] not in {f"{image}:{tag}" for image, tag in tags.items()}:
                problems.append(f"{where}: image {container['image']} is not one of {tags}")
    return problems


def probe_problems(docs: list[Document]) -> list[str]:
    """Every long-running container: readiness and liveness probes on a port it declares."""
    problems = []
    for doc in of_kind(docs, *WORKLOADS):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            where = f"{doc['kind']} {doc['metadata']['name']}, {container['name']}"
            ports = {port.get("name") for port in container.get("ports", [])} | {
                port["containerPort"] for port in container.get("ports", [])
            }
            for probe in ("readinessProbe", "livenessProbe"):
                check = container.get(probe, {}).get("httpGet")
                if not check:
                    problems.append(f"{where}: no HTTP {probe}")
                elif check["port"] not in ports:
                    problems.append(f"{where}: {probe} on undeclared port {check['port']}")
    return problems


def resource_problems(docs: list[Document]) -> list[str]:
    """Every container, init containers and Jobs included: CPU and memory requested, memory
    limited."""
    problems = []
    for where, spec in pod_specs(docs):
        for container in containers(spec):
            resources = container.get("resources", {})
            requests, limits = resources.get("requests", {}), resources.get("limits", {})
            missing = [f"requests.{name}" for name in ("cpu", "memory") if name not in requests]
            missing += [] if "memory" in limits else ["limits.memory"]
            if missing:
                problems.append(f"{where}, {container['name']}: no {', '.join(missing)}")
            elif mebibytes(requests["memory"]) > mebibytes(limits["memory"]):
                problems.append(f"{where}, {container['name']}: requests more than its limit")
    return problems


def secret_problems(docs: list[Document], template: list[Document]) -> list[str]:
    """No secret written in a manifest: every secret-like variable comes from the Secret by a
    key the template has; no Secret, no secret-like ConfigMap key, no password in a URL."""
    keys = set(template[0]["stringData"])
    problems = []
    for doc in docs:
        name = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] == "Secret":
            problems.append(f"{name}: a Secret among the resources")
        if doc["kind"] == "ConfigMap":
            problems += [
                f"{name}: secret-like key {key}" for key in doc["data"] if SECRET_NAME.search(key)
            ]
        problems += [
            f"{name}: a password in a URL"
            for text in strings(doc)
            if CREDENTIALS_IN_URL.search(text)
        ]
    for where, spec in pod_specs(docs):
        for container in containers(spec):
            at = f"{where}, {container['name']}"
            if any("secretRef" in source for source in container.get("envFrom", [])):
                problems.append(f"{at}: a whole Secret as environment (read each by its key)")
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref is None and SECRET_NAME.search(variable["name"]):
                    problems.append(f"{at}: {variable['name']} is not read from the Secret")
                if ref is not None and (ref["name"] != SECRET or ref["key"] not in keys):
                    problems.append(f"{at}: {variable['name']} reads {ref}, not in the template")
    return problems


def autoscaler_problems(docs: list[Document]) -> list[str]:
    """Each HPA scales an existing workload on CPU (which it requests)."""
    problems = []
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        spec, name = hpa["spec"], hpa["metadata"]["name"]
        target = spec["scaleTargetRef"]
        workload = find(docs, target["kind"], target["name"])
        if workload is None or target.get("apiVersion") != "apps/v1":
            problems.append(f"HPA {name}: no {target['kind']} {target['name']} to scale")
            continue
        if not spec.get("minReplicas", 1) <= spec["maxReplicas"]:
            problems.append(f"HPA {name}: minReplicas above maxReplicas")
        for metric in spec["metrics"]:
            resource = metric.get("resource", {}).get("name")
            if resource != "cpu":
                problems.append(f"HPA {name}: scales on {resource or metric['type']}, not CPU")
        for container in workload["spec"]["template"]["spec"]["containers"]:
            if "cpu" not in container.get("resources", {}).get("requests", {}):
                problems.append(f"HPA {name}: {container['name']} requests no CPU")
    return problems


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def disruption_problems(docs: list[Document]) -> list[str]:
    """One PDB per workload, selecting its pods, never blocking a drain for good."""
    problems = []
    budgets = of_kind(docs, "PodDisruptionBudget")
    for pdb in budgets:
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [
            doc
            for doc in of_kind(docs, *WORKLOADS)
            if selects(selector, doc["spec"]["template"]["metadata"]["labels"])
        ]
        if len(matched) != 1:
            problems.append(f"PDB {pdb['metadata']['name']} selects {len(matched)} workloads")
        for doc in matched:
            least = pdb["spec"].get("minAvailable", 0)
            if isinstance(least, int) and least >= doc["spec"].get("replicas", 1):
                problems.append(f"PDB {pdb['metadata']['name']}: no drain could ever proceed")
    for doc in of_kind(docs, *WORKLOADS):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if not any(selects(p["spec"]["selector"]["matchLabels"], labels) for p in budgets):
            problems.append(f"{doc['kind']} {doc['metadata']['name']}: no PodDisruptionBudget")
    return problems


def routing_problems(docs: list[Document]) -> list[str]:
    """Services select the pods of a workload and a port they declare; the Ingress leads to
    Services and ports that exist."""
    problems = []
    for service in of_kind(docs, "Service"):
        name, spec = service["metadata"]["name"], service["spec"]
        if spec.get("type") == "ExternalName":
            continue
        pods = [
            doc["spec"]["template"]
            for doc in of_kind(docs, *WORKLOADS)
            if selects(spec.get("selector", {}), doc["spec"]["template"]["metadata"]["labels"])
        ]
        if not pods:
            problems.append(f"Service {name} selects no pods")
        declared = {
            value
            for pod in pods
            for container in pod["spec"]["containers"]
            for port in container.get("ports", [])
            for value in (port.get("name"), port["containerPort"])
        }
        for port in spec["ports"]:
            if pods and port.get("targetPort", port["port"]) not in declared:
                problems.append(f"Service {name}: no container port {port.get('targetPort')}")
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = find(docs, "Service", backend["name"])
                ports = [] if service is None else service["spec"]["ports"]
                if not any(
                    backend["port"].get("name") in (p.get("name"), None)
                    and backend["port"].get("number") in (p["port"], None)
                    for p in ports
                ):
                    problems.append(f"Ingress {rule['host']}{path['path']}: no {backend}")
    return problems


def reference_problems(docs: list[Document]) -> list[str]:
    """The Jobs exist; every ConfigMap, claim and volume a pod names exists."""
    problems = [f"no Job {name}" for name in ("migrate", "train") if not find(docs, "Job", name)]
    if not find(docs, "CronJob", "privacy-purge"):
        problems.append("no CronJob privacy-purge")
    claim = find(docs, "PersistentVolumeClaim", "models")
    if claim is None or claim["spec"]["accessModes"] != ["ReadWriteMany"]:
        problems.append("no ReadWriteMany claim `models` (several Rasa nodes read it)")
    train = find(docs, "Job", "train")
    if train is not None and not any(
        volume.get("persistentVolumeClaim", {}).get("claimName") == "models"
        for volume in train["spec"]["template"]["spec"].get("volumes", [])
    ):
        problems.append("the training Job does not write to the models claim")
    for where, spec in pod_specs(docs):
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume and not find(docs, "ConfigMap", volume["configMap"]["name"]):
                problems.append(f"{where}: no ConfigMap {volume['configMap']['name']}")
            claim_name = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim_name and not find(docs, "PersistentVolumeClaim", claim_name):
                problems.append(f"{where}: no claim {claim_name}")
        for container in containers(spec):
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    problems.append(f"{where}, {container['name']}: no volume {mount['name']}")
            for source in container.get("envFrom", []):
                name = source.get("configMapRef", {}).get("name")
                if name and not find(docs, "ConfigMap", name):
                    problems.append(f"{where}, {container['name']}: no ConfigMap {name}")
    return problems


def security_problems(docs: list[Document]) -> list[str]:
    """Kubernetes' "restricted" Pod Security Standard (the namespace enforces it), the images'
    own user, a read-only root filesystem, no API token, no service links."""
    problems = []
    for where, spec in pod_specs(docs):
        pod = spec.get("securityContext", {})
        if not (pod.get("runAsNonRoot") is True and pod.get("runAsUser") == UID):
            problems.append(f"{where}: not runAsNonRoot as UID {UID}")
        if pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: no RuntimeDefault seccomp profile")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a service account token")
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{where}: service links would set RASA_PORT=tcp://...")
        for container in containers(spec):
            context = container.get("securityContext", {})
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}, {container['name']}: may escalate privileges")
            if context.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}, {container['name']}: keeps capabilities")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}, {container['name']}: writable root filesystem")
            if context.get("privileged") or "runAsUser" in context:
                problems.append(f"{where}, {container['name']}: overrides the pod's user")
    namespace = find(docs, "Namespace", NAMESPACE)
    labels = (namespace or {}).get("metadata", {}).get("labels", {})
    if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
        problems.append("the namespace does not enforce the restricted Pod Security Standard")
    return problems


def replica_problems(docs: list[Document]) -> list[str]:
    """Rasa and the connector run as several replicas, each scaled by an autoscaler (the
    connector in webhook mode: Telegram lets one client at a time poll); the dashboard runs as
    two or more, replaced one at a time, and shares its sign-in limits in Redis."""
    problems = []
    for name in ("rasa", "telegram"):
        workload = find(docs, "Deployment", name)
        if workload is None or workload["spec"].get("replicas", 1) < 2:
            problems.append(f"fewer than two {name} replicas")
        scalers = [
            hpa
            for hpa in of_kind(docs, "HorizontalPodAutoscaler")
            if hpa["spec"]["scaleTargetRef"]["name"] == name
        ]
        if not scalers or scalers[0]["spec"].get("minReplicas", 1) < 2:
            problems.append(f"no autoscaler keeping two {name} replicas or more")
    config = find(docs, "ConfigMap", "neetbot-config")
    if (config or {}).get("data", {}).get("TELEGRAM_MODE") != "webhook":
        problems.append("several connector replicas, not in webhook mode")
    dashboard = find(docs, "Deployment", "dashboard")
    if dashboard is None or dashboard["spec"].get("replicas", 1) < 2:
        problems.append("fewer than two dashboard replicas")
    else:
        strategy = dashboard["spec"].get("strategy", {})
        if strategy.get("type") == "Recreate" or strategy.get("rollingUpdate", {}).get(
            "maxUnavailable", 1
        ) not in (0, "0%"):
            problems.append("an update of the dashboard stops replicas before new ones serve")
        served = [c for c in (pod_spec(dashboard) or {}).get("containers", [])]
        names = {item.get("name") for item in (served or [{}])[0].get("env", [])}
        if "LOCK_STORE_URL" not in names:
            problems.append("the dashboard replicas count sign-in attempts apart (no Redis)")
    return problems


CHECKS: dict[str, Callable[[list[Document]], list[str]]] = {
    "schema": lambda docs: [p for v in KUBERNETES_VERSIONS for p in schema_problems(docs, v)],
    "rendering": rendering_problems,
    "probes": probe_problems,
    "resources": resource_problems,
    "secrets": lambda docs: secret_problems(docs, TEMPLATE),
    "autoscalers": autoscaler_problems,
    "disruption": disruption_problems,
    "routing": routing_problems,
    "references": reference_problems,
    "security": security_problems,
    "replicas": replica_problems,
}


# The manifests as they are


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_document_is_valid_for_the_kubernetes_api(version: str) -> None:
    assert len(DOCS) > 20
    assert schema_problems(DOCS, version) == []


@pytest.mark.parametrize("check", [name for name in CHECKS if name != "schema"])
def test_the_manifests_keep_their_promises(check: str) -> None:
    assert CHECKS[check](DOCS) == []


def test_the_secret_template_validates_and_is_no_resource() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "secret.example.yaml" not in kustomization["resources"]
    assert [(doc["kind"], doc["metadata"]["name"]) for doc in TEMPLATE] == [("Secret", SECRET)]
    for version in KUBERNETES_VERSIONS:
        assert schema_problems(TEMPLATE, version) == []
    values = TEMPLATE[0]["stringData"]
    # Placeholders only, or empty, or an address without a password: nobody commits a real one.
    for value in values.values():
        assert value == "" or "CHANGE-ME" in value or re.fullmatch(r"redis://[\w.]+:\d+/\d+", value)
    used = {
        variable["valueFrom"]["secretKeyRef"]["key"]
        for _, spec in pod_specs(DOCS)
        for container in containers(spec)
        for variable in container.get("env", [])
        if "valueFrom" in variable
    }
    assert used == set(values), "every key of the template is read, and only those"


def test_every_secret_of_compose_is_a_secret_here() -> None:
    """What docker-compose.yml takes from a secret variable, these manifests read from the
    Secret; every variable compose gives a long-running service, these give it too."""
    config = find(DOCS, "ConfigMap", "neetbot-config")
    assert config is not None
    keys = set(TEMPLATE[0]["stringData"])
    for service in LONG_RUNNING:
        workload = find(DOCS, "Deployment", service) or find(DOCS, "StatefulSet", service)
        assert workload is not None, service
        container = workload["spec"]["template"]["spec"]["containers"][0]
        ours = {variable["name"]: variable for variable in container.get("env", [])}
        for name, value in COMPOSE[service]["environment"].items():
            referenced = re.findall(r"\$\{(\w+)", str(value))
            secret = [ref for ref in referenced if SECRET_NAME.search(ref)]
            assert set(secret) <= keys, (service, name)
            if secret:
                assert "secretKeyRef" in ours.get(name, {}).get("valueFrom", {}), (service, name)
            else:
                assert name in ours or name in config["data"], (service, name)


def test_commands_and_health_checks_are_those_of_compose() -> None:
    for service in (*LONG_RUNNING, "migrate"):
        doc = next(d for d in of_kind(DOCS, *WORKLOADS, "Job") if d["metadata"]["name"] == service)
        container = doc["spec"]["template"]["spec"]["containers"][0]
        command = [*container["command"], *container.get("args", [])]
        expected = [
            "/etc/neetbot/rasa/endpoints.yml" if part == "endpoints.production.yml" else part
            for part in COMPOSE[service]["command"]
        ]
        assert command == expected, service
        if service == "migrate":
            continue
        url = re.search(
            r"http://127\.0\.0\.1:(\d+)(/\S*?)'", " ".join(COMPOSE[service]["healthcheck"]["test"])
        )
        assert url, service
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            check = container[probe]["httpGet"]
            assert (ports[check["port"]], check["path"]) == (int(url[1]), url[2]), service


def test_rasa_endpoints_are_the_production_file_with_the_lock_store_password() -> None:
    config = find(DOCS, "ConfigMap", "neetbot-rasa-endpoints")
    assert config is not None
    ours = yaml.safe_load(config["data"]["endpoints.yml"])
    production = yaml.safe_load((ROOT / "rasa_project" / "endpoints.production.yml").read_text())
    assert ours["lock_store"].pop("password") == "${REDIS_PASSWORD}"
    assert ours == production
    rasa = find(DOCS, "Deployment", "rasa")
    assert rasa is not None
    environment = {
        variable["name"] for variable in rasa["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    names = set(re.findall(r"\$\{(\w+)\}", config["data"]["endpoints.yml"]))
    assert names <= environment | set(find(DOCS, "ConfigMap", "neetbot-config")["data"])  # type: ignore[index]


def test_the_images_run_as_the_user_the_manifests_name() -> None:
    for dockerfile in ("Dockerfile.app", "Dockerfile.rasa"):
        text = (ROOT / "deploy" / dockerfile).read_text(encoding="utf-8")
        assert re.search(rf"useradd [^&\n]*--uid {UID} (\w+)", text), dockerfile


def benchmark_memory() -> dict[str, tuple[float, float]]:
    """docs/benchmarks.md's table of resident memory (bench/memory.py): each process's MiB
    after the warm-up and at its peak."""
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    section = text.split("## Resident memory of each process", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(
        r"^\| ([\w ]+?) \| [\d,]+ MiB \| ([\d,]+) MiB \| ([\d,]+) MiB \|", section, re.M
    )
    return {
        name: (float(after.replace(",", "")), float(peak.replace(",", "")))
        for name, after, peak in rows
    }


def test_memory_requests_and_limits_cover_the_measured_figures() -> None:
    measured = benchmark_memory()
    names = {
        "Rasa server": "rasa",
        "action server": "actions",
        "Telegram connector": "telegram",
        "dashboard": "dashboard",
    }
    assert set(names) <= set(measured), measured
    for label, name in names.items():
        doc = find(DOCS, "Deployment", name) or find(DOCS, "StatefulSet", name)
        assert doc is not None
        resources = doc["spec"]["template"]["spec"]["containers"][0]["resources"]
        after, peak = measured[label]
        assert mebibytes(resources["requests"]["memory"]) >= after, name
        assert mebibytes(resources["limits"]["memory"]) >= peak * 1.25, name


def test_the_init_containers_wait_for_the_migrations(tmp_path: Path) -> None:
    """config.yaml's wait_for_migrations.py: waits on an empty database, passes at head."""
    from bot.db.migrate import upgrade

    config = find(DOCS, "ConfigMap", "neetbot-scripts")
    assert config is not None
    script = tmp_path / "wait_for_migrations.py"
    script.write_text(config["data"]["wait_for_migrations.py"], encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'neetbot.db'}"
    environment = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    waiting = subprocess.Popen(
        [sys.executable, str(script)], env=environment, stdout=subprocess.PIPE, text=True
    )
    try:
        assert waiting.stdout is not None
        assert waiting.stdout.readline().strip() == "Waiting for the migrations job"
        assert waiting.poll() is None
    finally:
        waiting.kill()
        waiting.wait()
    upgrade(url)
    done = subprocess.run(
        [sys.executable, str(script)], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "at this image's migrations" in done.stdout
    waits = [
        container["command"]
        for _, spec in pod_specs(DOCS)
        for container in spec.get("initContainers", [])
        if container["name"] == "wait-for-migrations"
    ]
    assert len(waits) == 3  # the action server, the connector, the dashboard


def test_the_training_job_trains_each_data_once_and_points_current_at_it(tmp_path: Path) -> None:
    """The training Job's script, with /models in a temporary folder and a stand-in `rasa`
    that writes an empty model and notes each training."""
    train = find(DOCS, "Job", "train")
    assert train is not None
    script = train["spec"]["template"]["spec"]["containers"][0]["args"][0]
    models, project, bin_dir = tmp_path / "models", tmp_path / "project", tmp_path / "bin"
    for folder in (models, project / "domain", project / "data", bin_dir):
        folder.mkdir(parents=True)
    (project / "config.yml").write_text("language: en\n")
    (project / "domain" / "domain.yml").write_text("version: '3.1'\n")
    (project / "data" / "nlu.yml").write_text("nlu: []\n")
    trainings = tmp_path / "trainings.log"
    rasa = bin_dir / "rasa"
    rasa.write_text(
        "#!/bin/sh\n# rasa train ... --out DIR --fixed-model-name NAME\n"
        'while [ "$#" -gt 0 ]; do\n  case "$1" in\n'
        "    --out) out=$2;;\n    --fixed-model-name) name=$2;;\n  esac\n  shift\ndone\n"
        f'echo "$name" >> {trainings}\nmkdir -p "$out" && echo model > "$out/$name.tar.gz"\n'
    )
    rasa.chmod(0o755)

    def run() -> str:
        done = subprocess.run(
            ["sh", "-c", script.replace("/models", str(models))],
            cwd=project,
            timeout=60,
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return os.readlink(models / "current.tar.gz")

    first = run()
    assert run() == first  # the same data: not trained again
    (project / "data" / "nlu.yml").write_text("nlu: [{intent: greet}]\n")
    second = run()
    assert second != first and (models / second).exists() and (models / first).exists()
    assert trainings.read_text().split() == [first[: -len(".tar.gz")], second[: -len(".tar.gz")]]
    assert not (models / ".training").exists()


# Each check can fail: one mistake at a time in a copy of the manifests. A mistake replaces the
# first `old` after the last `anchor` (the file's start when empty) in `file`.

# fmt: off
MISTAKES = [
    ("schema", "rasa.yaml", "", "  replicas: 2\n", "  replicas: 2\n  replica: 2\n"),
    ("schema", "rasa.yaml", "", "maxReplicas: 4", "maxReplicas: four"),
    ("rendering", "kustomization.yaml", "", "namespace: neetbot\n", ""),
    ("rendering", "actions.yaml", "containers:", "image: neetbot-app", "image: neetbot-ap"),
    ("probes", "actions.yaml", "", "readinessProbe:", "startupProbe:"),
    ("probes", "dashboard.yaml", "livenessProbe:", "port: http", "port: web"),
    ("resources", "dashboard.yaml", "containers:", "memory: 256Mi\n", "\n"),
    ("resources", "jobs.yaml", "memory: 3Gi", "limits:\n              memory: 4Gi", "limits: {}"),
    ("secrets", "telegram.yaml", "name: TELEGRAM_BOT_TOKEN",
     "valueFrom:\n                secretKeyRef:\n                  name: neetbot-secrets\n"
     "                  key: TELEGRAM_BOT_TOKEN", "value: '123:abc'"),
    ("secrets", "config.yaml", "", "  POSTGRES_DB: neetbot\n",
     "  POSTGRES_DB: neetbot\n  DB: postgresql://neetbot:hunter2@postgres/neetbot\n"),
    ("secrets", "actions.yaml", "", "key: PSEUDONYM_KEY", "key: PSEUDONYM"),
    ("secrets", "dashboard.yaml", "", "envFrom:\n",
     "envFrom:\n            - secretRef:\n                name: neetbot-secrets\n"),
    ("autoscalers", "rasa.yaml", "scaleTargetRef:", "name: rasa", "name: rasa-server"),
    ("autoscalers", "rasa.yaml", "kind: HorizontalPodAutoscaler", "resource:\n        name: cpu",
     "resource:\n        name: memory"),
    ("disruption", "actions.yaml", "matchLabels:", "component: actions\n", "component: action\n"),
    ("disruption", "dashboard.yaml", "kind: PodDisruptionBudget", "maxUnavailable: 1",
     "minAvailable: 2"),
    ("routing", "dashboard.yaml", "kind: Service", "component: dashboard\n  ports",
     "component: dashbord\n  ports"),
    ("routing", "actions.yaml", "kind: Service", "targetPort: http", "targetPort: web"),
    ("routing", "ingress.yaml", "", "name: telegram\n", "name: telegram-webhook\n"),
    ("references", "jobs.yaml", "", "name: migrate\n", "name: migrations\n"),
    ("references", "rasa.yaml", "volumes:", "name: neetbot-rasa-endpoints", "name: endpoints"),
    ("security", "rasa.yaml", "", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
    ("security", "dashboard.yaml", "", "runAsNonRoot: true", "runAsNonRoot: false"),
    ("security", "telegram.yaml", "", "enableServiceLinks: false", "enableServiceLinks: true"),
    ("security", "jobs.yaml", "", "drop: [ALL]", "drop: [NET_RAW]"),
    ("replicas", "telegram.yaml", "", "replicas: 2\n", "replicas: 1\n"),
    ("replicas", "telegram.yaml", "kind: HorizontalPodAutoscaler", "minReplicas: 2",
     "minReplicas: 1"),
    ("replicas", "config.yaml", "", "TELEGRAM_MODE: webhook", "TELEGRAM_MODE: polling"),
    ("replicas", "dashboard.yaml", "", "replicas: 2  # see above", "replicas: 1"),
    ("replicas", "dashboard.yaml", "", "maxUnavailable: 0  # coaches", "maxUnavailable: 1  #"),
]
# fmt: on


@pytest.mark.parametrize(("check", "file", "anchor", "old", "new"), MISTAKES)
def test_each_check_catches_a_broken_manifest(
    tmp_path: Path, check: str, file: str, anchor: str, old: str, new: str
) -> None:
    broken = tmp_path / "kubernetes"
    shutil.copytree(BASE, broken)
    text = (broken / file).read_text(encoding="utf-8")
    start = text.rindex(anchor) if anchor else 0
    assert old in text[start:], f"the mistake no longer applies to {file}: {old!r}"
    text = text[:start] + text[start:].replace(old, new, 1)
    (broken / file).write_text(text, encoding="utf-8")
    assert CHECKS[check](render(broken)) != []


def test_the_renderer_fails_on_kustomize_features_it_does_not_apply(tmp_path: Path) -> None:
    broken = tmp_path / "kubernetes"
    shutil.copytree(BASE, broken)
    with (broken / "kustomization.yaml").open("a", encoding="utf-8") as handle:
        handle.write("patches:\n  - path: overlay.yaml\n")
    with pytest.raises(AssertionError, match="patches"):
        render(broken)
