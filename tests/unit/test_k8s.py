"""deploy/k8s: every overlay renders, every object is valid, every pod is run as we mean.

No cluster here: `kubectl kustomize` renders the overlays, kubernetes-validate checks the
built-in kinds against the schemas of a pinned Kubernetes release, and the CRDs of KEDA
and the Prometheus Operator (copied unchanged under tests/data/crds/) check theirs.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.bus import BusKeys
from shared.messages import SendMessage
from tests.readme_settings import readme_settings

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
KUBERNETES_VERSION = "1.33.0"  # the oldest release still supported upstream in late 2026
CRDS = ROOT / "tests" / "data" / "crds"


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the CRD's OpenAPI v3 schema of that version."""
    schemas = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def of_kind(overlay: str, *kinds: str) -> list[dict[str, Any]]:
    return [doc for doc in rendered(overlay) if doc["kind"] in kinds]


def pod_specs(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for doc in of_kind(overlay, "Deployment", "Job")
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_its_schema(overlay: str) -> None:
    problems = []
    for doc in rendered(overlay):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        schema = crd_schemas().get((doc["apiVersion"], doc["kind"]))
        try:
            if schema is not None:
                # Not jsonschema.validate: it checks the schema first, and the CRDs hold Go
                # regular expressions ("(?i)" mid-pattern) that Python's re refuses.
                jsonschema.Draft7Validator(schema).validate(doc)
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            problems.append(f"{name}: {exc.message}")
    assert problems == []


def test_a_broken_object_is_caught() -> None:
    # The check above must be able to fail: a misspelt field and a custom resource's.
    [deployment] = [
        d for d in of_kind("clinic", "Deployment") if d["metadata"]["name"] == "scheduler-api"
    ]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    [scaled] = of_kind("national", "ScaledObject")
    schema = crd_schemas()[(scaled["apiVersion"], "ScaledObject")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate({**scaled, "spec": {"triggers": []}})


def test_the_overlays_are_one_replica_and_several() -> None:
    def replicas(overlay: str) -> dict[str, int]:
        deployments = of_kind(overlay, "Deployment")
        return {d["metadata"]["name"]: d["spec"]["replicas"] for d in deployments}

    clinic = replicas("clinic")
    assert len(clinic) == 7  # an API and a worker per service, and the console
    assert set(clinic.values()) == {1}
    assert of_kind("clinic", "ScaledObject", "HorizontalPodAutoscaler", "PrometheusRule") == []
    national = replicas("national")
    assert national["console"] > 1
    assert national["scheduler-api"] > 1
    assert national["scheduler-worker"] > 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_unprivileged_limited_and_probed(overlay: str) -> None:
    for name, spec in pod_specs(overlay):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"] + spec.get("initContainers", []):
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
    for deployment in of_kind(overlay, "Deployment"):
        name = deployment["metadata"]["name"]
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        [app] = deployment["spec"]["template"]["spec"]["containers"]
        probes = {"startupProbe", "livenessProbe"} | (
            {"readinessProbe"} if component in ("api", "console") else set()
        )
        assert probes <= set(app), f"{name} lacks {probes - set(app)}"
        if component == "api":
            assert app["readinessProbe"]["httpGet"]["path"] == "/ready"
        elif component == "worker":
            command = app["livenessProbe"]["exec"]["command"]
            assert command[-3:] == ["healthcheck", "worker", name.removesuffix("-worker")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_readme_setting_reaches_every_pod(overlay: str) -> None:
    [config] = of_kind(overlay, "ConfigMap")
    [secret] = of_kind(overlay, "Secret")
    for name, spec in pod_specs(overlay):
        for container in spec["containers"] + spec.get("initContainers", []):
            sources = {
                ref.get("configMapRef", ref.get("secretRef", {})).get("name")
                for ref in container["envFrom"]
            }
            assert sources == {config["metadata"]["name"], secret["metadata"]["name"]}, name
    reached = set(config["data"]) | set(secret.get("data", {}))
    for name, spec in pod_specs(overlay):
        [app] = spec["containers"]
        per_pod = {item["name"] for item in app.get("env", [])}
        missing = [s for s in readme_settings() if s not in reached | per_pod]
        assert missing == [], f"{name}: README settings no pod receives: {missing}"


def test_secrets_hold_no_values_and_settings_hold_no_secrets() -> None:
    [secret] = of_kind("clinic", "Secret")
    assert set(secret["data"].values()) == {""}, "the base's Secret is placeholders only"
    [config] = of_kind("clinic", "ConfigMap")
    leaked = [key for key in config["data"] if re.search(r"SECRET$|_TOKEN$|KEYS?$|_URL$", key)]
    # Public addresses are settings; URLs that carry passwords (database, Redis) are not.
    public = ("PUBLIC_URL", "BASE_URL", "WEBHOOK_URL")
    assert [key for key in leaked if not key.endswith(public)] == []


def test_the_autoscaler_watches_the_stream_the_dispatcher_reads() -> None:
    [scaled] = of_kind("national", "ScaledObject")
    [config] = of_kind("national", "ConfigMap")
    [trigger] = scaled["spec"]["triggers"]
    keys = BusKeys(config["data"]["BUS_PREFIX"])
    assert trigger["type"] == "redis-streams"
    assert trigger["metadata"]["stream"] == keys.stream(SendMessage.name())
    assert trigger["metadata"]["consumerGroup"] == "scheduler"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "scheduler-worker"


def test_every_alert_reads_a_metric_the_suite_exposes() -> None:
    from prometheus_client import REGISTRY

    # Importing the modules registers their metrics.
    for module in (
        "shared.metrics",
        "shared.bus.gauges",
        "services.scheduler.receipts",
        "shared.provider_webhook",
    ):
        importlib.import_module(module)
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    exposed = {
        metric.name + suffix
        for metric in REGISTRY.collect()
        for suffix in ["", *suffixes.get(metric.type, [])]
    }
    [rules] = of_kind("national", "PrometheusRule")
    expressions = [r["expr"] for g in rules["spec"]["groups"] for r in g["rules"]]
    used = {m for expr in expressions for m in re.findall(r"\bmmt_[a-z_]+", expr)}
    assert used
    assert used <= exposed, f"not exposed: {sorted(used - exposed)}"


def test_the_consoles_api_addresses_are_services_of_the_overlay() -> None:
    [config] = of_kind("national", "ConfigMap")
    services = {
        (s["metadata"]["name"], port["port"])
        for s in of_kind("national", "Service")
        for port in s["spec"]["ports"]
    }
    addresses = {
        key: re.fullmatch(r"http://([a-z0-9-]+):(\d+)", value)
        for key, value in config["data"].items()
        if key.startswith("CONSOLE_") and key.endswith("_BASE_URL")
    }
    assert addresses
    for key, found in addresses.items():
        assert found, f"{key} is not http://<service>:<port>"
        assert (found[1], int(found[2])) in services, f"{key}: no such Service and port"
