"""The chart with the real helm binary: lint, render, validate against Kubernetes schemas."""

from __future__ import annotations

import json
import os
from typing import Any

import kubernetes_validate
import pytest
from chart_helpers import ALL_FEATURES, CHART, PROMETHEUS_OPERATOR, of_kind, one, template_args

from conftest import Helm, Render

KUBERNETES_VERSION = "1.31.0"
# Kinds whose schemas kubernetes-validate does not ship: checked structurally below instead.
CUSTOM_KINDS = {
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
    "ClusterKopfPeering",
    "KopfPeering",
}


def _workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return of_kind(docs, "Deployment")


def _container(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    deployment = one(docs, "Deployment", component)
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_lint_strict(helm: Helm) -> None:
    proc = helm("lint", "--strict", str(CHART))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lint_strict_with_all_features(helm: Helm) -> None:
    args = ["lint", "--strict", str(CHART)]
    for value in ALL_FEATURES:
        args += ["--set", value]
    proc = helm(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("values", "apis"),
    [
        pytest.param((), (), id="defaults"),
        pytest.param(ALL_FEATURES, PROMETHEUS_OPERATOR, id="all-features"),
        pytest.param(
            ("rbac.scope=namespace", "rbac.watchNamespaces={ml,research}", "operator.replicas=3"),
            PROMETHEUS_OPERATOR,
            id="namespaced",
        ),
        pytest.param(
            ("gateway.enabled=false", "monitoring.serviceMonitor.kind=PodMonitor"),
            PROMETHEUS_OPERATOR,
            id="podmonitor-no-gateway",
        ),
    ],
)
def test_rendered_manifests_validate_strictly(
    render: Render, values: tuple[str, ...], apis: tuple[str, ...]
) -> None:
    docs = render(values, apis)
    validated = 0
    for doc in docs:
        kind = doc["kind"]
        if kind in CUSTOM_KINDS:
            assert doc["apiVersion"] in {"monitoring.coreos.com/v1", "kopf.dev/v1"}, doc
            assert doc["metadata"]["name"], doc
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{kind}/{doc['metadata'].get('name')}: {error.message} at {error.path}")
        validated += 1
    assert validated >= 8, f"only {validated} documents validated"


def test_defaults_render_the_expected_objects(render: Render) -> None:
    docs = render()
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds.count("Deployment") == 3  # operator, gateway and its feedback store
    assert kinds.count("CustomResourceDefinition") >= 2  # kopf peering (+ generated CRDs)
    # Without the Prometheus Operator API there is nothing for it to read.
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & set(kinds)
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    assert not of_kind(docs, "ClusterKopfPeering")
    dashboards = [
        doc
        for doc in of_kind(docs, "ConfigMap")
        if doc["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert sorted(next(iter(doc["data"])) for doc in dashboards) == [
        "operator.json",
        "rollout-health.json",
    ]


def test_monitoring_objects_with_the_prometheus_operator(render: Render) -> None:
    docs = render(ALL_FEATURES, PROMETHEUS_OPERATOR)
    monitors = of_kind(docs, "ServiceMonitor")
    assert len(monitors) == 2
    ports = {m["metadata"]["name"]: m["spec"]["endpoints"][0]["port"] for m in monitors}
    assert ports == {
        "mr-model-rollout-operator": "http",
        "mr-model-rollout-gateway": "http",
    }
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        # every monitor selects a Service the chart renders, on a port that Service names
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [
            s
            for s in of_kind(docs, "Service")
            if selector.items() <= s["metadata"]["labels"].items()
        ]
        assert len(services) == 1, monitor["metadata"]["name"]
        assert monitor["spec"]["endpoints"][0]["port"] in {
            p["name"] for p in services[0]["spec"]["ports"]
        }
    rule = one(docs, "PrometheusRule")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert alerts == {
        "ModelRolloutRollback",
        "ModelRolloutExperimentStuck",
        "ModelRolloutAnalysisInconclusive",
        "ModelRolloutGatewayFallbackRateHigh",
        "ModelRolloutTrainingJobFailed",
    }


def test_podmonitor_scrapes_container_ports(render: Render) -> None:
    docs = render(("monitoring.serviceMonitor.kind=PodMonitor",), PROMETHEUS_OPERATOR)
    assert not of_kind(docs, "ServiceMonitor")
    monitors = [  # the Triton PodMonitor selects the operator's pods: test_chart_triton.py
        m
        for m in of_kind(docs, "PodMonitor")
        if m["metadata"]["labels"]["app.kubernetes.io/component"] != "triton"
    ]
    assert len(monitors) == 2
    for monitor in monitors:
        component = monitor["metadata"]["labels"]["app.kubernetes.io/component"]
        port_names = {p["name"] for p in _container(docs, component)["ports"]}
        assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in port_names


@pytest.mark.parametrize("values", [(), ALL_FEATURES], ids=["defaults", "all-features"])
def test_every_container_is_locked_down(render: Render, values: tuple[str, ...]) -> None:
    for deployment in _workloads(render(values, PROMETHEUS_OPERATOR)):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["requests"], container["name"]
            assert container["livenessProbe"] and container["readinessProbe"]
            # a read-only root needs a writable /tmp
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


def test_single_operator_runs_standalone(render: Render) -> None:
    docs = render()
    container = _container(docs, "operator")
    assert container["command"] == ["modelrollout"]
    assert container["args"] == ["operator", "--standalone"]  # cluster-wide by default
    assert one(docs, "Deployment", "operator")["spec"]["strategy"]["type"] == "Recreate"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MODELROLLOUT_HTTP_PORT"] == "8080"


def test_replicated_operator_peers(render: Render) -> None:
    docs = render(("operator.replicas=2",))
    args = _container(docs, "operator")["args"]
    assert args == ["operator", "--peering=mr-model-rollout"]
    peering = one(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "mr-model-rollout"
    env = {e["name"] for e in _container(docs, "operator")["env"]}
    assert "POD_ID" in env  # kopf's peer identity


def test_settings_become_modelrollout_env(render: Render) -> None:
    docs = render(
        ("operator.settings.versionPollInterval=30", "gateway.settings.feedbackTtlSeconds=600")
    )
    operator_env = {e["name"]: e.get("value") for e in _container(docs, "operator")["env"]}
    assert operator_env["MODELROLLOUT_VERSION_POLL_INTERVAL"] == "30"
    assert operator_env["MODELROLLOUT_PROMETHEUS_URL"].startswith("http://")
    assert operator_env["MODELROLLOUT_LOG_LEVEL"] == "INFO"
    assert operator_env["MODELROLLOUT_TRAINER_IMAGE"] == "model-rollout-trainer:0.1.0"
    assert operator_env["MODELROLLOUT_GATEWAY_IMAGE"] == "model-rollout-gateway:0.1.0"
    # routing ConfigMaps go to the gateway's namespace in every scope
    assert operator_env["MODELROLLOUT_GATEWAY_NAMESPACE"] == "mr-system"
    assert all(name.startswith(("MODELROLLOUT_", "POD_ID")) for name in operator_env)
    workloads = json.loads(operator_env["MODELROLLOUT_WORKLOADS"] or "{}")
    assert workloads["podSecurityContext"]["runAsNonRoot"] is True
    gateway = _container(docs, "gateway")
    assert gateway["args"] == ["serve"]
    gateway_env = {e["name"]: e.get("value") for e in gateway["env"]}
    assert gateway_env["MODELROLLOUT_GATEWAY_FEEDBACK_TTL_SECONDS"] == "600"
    assert gateway_env["MODELROLLOUT_GATEWAY_WATCH_CONFIGMAPS"] == "true"
    assert gateway_env["MODELROLLOUT_GATEWAY_PORT"] == "8000"
    assert all(name.startswith("MODELROLLOUT_GATEWAY_") for name in gateway_env)
    # the writable directories the gateway is told about are mounted
    mounts = {m["mountPath"] for m in gateway["volumeMounts"]}
    assert {
        gateway_env["MODELROLLOUT_GATEWAY_PREDICTION_LOG_DIR"],
        gateway_env["MODELROLLOUT_GATEWAY_ARTIFACT_CACHE_DIR"],
    } <= mounts


def _rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    table: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


def test_operator_rbac_is_least_privilege(render: Render) -> None:
    docs = render()
    (operator_role,) = [
        r
        for r in of_kind(docs, "ClusterRole")
        if r["metadata"]["name"] == "mr-model-rollout-operator-mr-system"
    ]
    role = _rules(operator_role)
    # the exact set is checked against the code in test_chart_rbac.py
    # create: a Model's loop rolls each new version out with an Experiment (handlers/models.py)
    assert role[("modelrollout.dev", "experiments")] == {"get", "list", "watch", "patch", "create"}
    assert role[("modelrollout.dev", "experiments/status")] == {"patch"}
    assert role[("modelrollout.dev", "modelversions/finalizers")] == {"update"}
    assert role[("batch", "jobs")] == {"create", "get", "delete"}
    assert role[("", "pods")] == {"list"}
    assert role[("", "events")] == {"create"}
    assert role[("gateway.networking.k8s.io", "httproutes")] == {"get", "patch"}
    assert ("", "configmaps") not in role  # only in the release namespace
    for (group, resource), verbs in role.items():
        assert "*" not in verbs and "*" not in (group, resource)
        if resource == "secrets":  # webhook signing keys (spec.notify): one named Secret
            assert verbs == {"get"}, "the operator never lists or watches secrets"
        assert not {"escalate", "bind", "impersonate"} & verbs
    assert not [r for r in of_kind(docs, "ClusterRole") if "gateway" in r["metadata"]["name"]]
    gateway = _rules(one(docs, "Role", "gateway"))
    assert gateway == {("", "configmaps"): {"list", "watch"}}


def test_namespace_scope_uses_roles_in_each_watched_namespace(render: Render) -> None:
    docs = render(
        ("rbac.scope=namespace", "rbac.watchNamespaces={ml,research}", "operator.replicas=2")
    )
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(docs, "Role")}
    assert sorted(roles) == [
        ("ml", "mr-model-rollout-operator"),
        ("mr-system", "mr-model-rollout-gateway"),
        ("mr-system", "mr-model-rollout-operator-routing"),
        ("research", "mr-model-rollout-operator"),
    ]
    # routing ConfigMaps live beside the gateway, which reads only there
    assert _rules(roles[("mr-system", "mr-model-rollout-operator-routing")]) == {
        ("", "configmaps"): {"create", "get", "patch", "delete"}
    }
    assert _rules(roles[("mr-system", "mr-model-rollout-gateway")]) == {
        ("", "configmaps"): {"list", "watch"}
    }
    for ns in ("ml", "research"):
        rules = _rules(roles[(ns, "mr-model-rollout-operator")])
        assert rules[("gateway.networking.k8s.io", "httproutes")] == {"get", "patch"}
        assert rules[("kopf.dev", "kopfpeerings")] == {"list", "watch", "patch"}
    operator_env = {e["name"]: e.get("value") for e in _container(docs, "operator")["env"]}
    gateway_env = {e["name"]: e.get("value") for e in _container(docs, "gateway")["env"]}
    assert operator_env["MODELROLLOUT_GATEWAY_NAMESPACE"] == "mr-system"
    assert gateway_env["MODELROLLOUT_GATEWAY_NAMESPACE"] == "mr-system"
    # cluster-wide: only kopf's CRD discovery and its namespace observer (besides the user
    # roles aggregated into view/edit/admin, which grant the operator nothing)
    cluster_roles = [
        r
        for r in of_kind(docs, "ClusterRole")
        if not any(
            k.startswith("rbac.authorization.k8s.io/aggregate-to-")
            for k in r["metadata"].get("labels", {})
        )
    ]
    assert len(cluster_roles) == 1
    assert _rules(cluster_roles[0]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
        ("", "namespaces"): {"list", "watch"},
    }
    args = _container(docs, "operator")["args"]
    assert args == [
        "operator",
        "--peering=mr-model-rollout",
        "--namespace=ml",
        "--namespace=research",
    ]
    peerings = of_kind(docs, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["ml", "research"]
    for binding in of_kind(docs, "RoleBinding"):
        assert binding["subjects"][0]["namespace"] == "mr-system"


def test_gateway_nodeport_and_autoscaling(render: Render) -> None:
    docs = render(ALL_FEATURES)
    service = one(docs, "Service", "gateway")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "mr-model-rollout-gateway"
    # the HPA owns the replica count
    assert "replicas" not in one(docs, "Deployment", "gateway")["spec"]


def test_gateway_can_be_left_out(render: Render) -> None:
    docs = render(("gateway.enabled=false",))
    assert [d["metadata"]["name"] for d in of_kind(docs, "Deployment")] == [
        "mr-model-rollout-operator"
    ]
    env = {e["name"] for e in _container(docs, "operator")["env"]}
    assert "MODELROLLOUT_GATEWAY_URL" not in env


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (("operator.replicas=0",), "replicas"),
        (("operator.replicas=two",), "replicas"),
        (("rbac.scope=everywhere",), "scope"),
        (("operator.imageTag=latest",), "imageTag"),
        (("operator.httpPort=70000",), "httpPort"),
        (("gateway.service.type=ExternalName",), "type"),
        (("gateway.service.nodePort=80",), "nodePort"),
        (("operator.image.pullPolicy=Sometimes",), "pullPolicy"),
        (("operator.settings.Bad-Key=1",), "Bad-Key"),
        (("monitoring.serviceMonitor.kind=Probe",), "kind"),
        (("monitoring.serviceMonitor.interval=often",), "interval"),
        (("operator.resources.limits.memory=lots",), "memory"),
        (("rbac.watchNamespaces={Not_A_Namespace}",), "watchNamespaces"),
        (
            ("gateway.autoscaling.targetCPUUtilizationPercentage=150",),
            "targetCPUUtilizationPercentage",
        ),
    ],
)
def test_bad_values_fail_naming_the_field(helm: Helm, values: tuple[str, ...], named: str) -> None:
    proc = helm(*template_args(values))
    assert proc.returncode != 0, f"{values} rendered without error"
    assert named in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            (
                "gateway.autoscaling.enabled=true",
                "gateway.autoscaling.minReplicas=5",
                "gateway.autoscaling.maxReplicas=2",
            ),
            "minReplicas (5) must not exceed",
        ),
        (
            ("operator.serviceAccount.create=false",),
            "operator.serviceAccount.name is required",
        ),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(
    helm: Helm, values: tuple[str, ...], message: str
) -> None:
    proc = helm(*template_args(values))
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_notes_tell_the_next_steps(helm: Helm) -> None:
    proc = helm("install", "mr", str(CHART), "--dry-run=client", "--namespace", "mr-system")
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "kubectl apply -f examples/" in notes
    assert "kubectl get mv,exp -w" in notes
    assert "monitoring.coreos.com/v1) was not found" in notes


@pytest.mark.parametrize(
    "values", [(), ALL_FEATURES, ("rbac.scope=namespace",)], ids=["defaults", "all", "ns"]
)
def test_rendered_env_is_accepted_by_the_components_settings(
    render: Render, values: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The chart talks to the components through env only: their own settings classes judge it.
    from modelrollout_inference.settings import GatewaySettings
    from modelrollout_operator.settings import OperatorSettings

    docs = render(values)
    for component, settings_class, prefix in (
        ("operator", OperatorSettings, "MODELROLLOUT_"),
        ("gateway", GatewaySettings, "MODELROLLOUT_GATEWAY_"),
    ):
        env = {e["name"]: e["value"] for e in _container(docs, component)["env"] if "value" in e}
        fields = {f"{prefix}{name.upper()}" for name in settings_class.model_fields}
        unknown = {name for name in env if name.startswith(prefix) and name not in fields}
        assert not unknown, f"{component} has no settings for {sorted(unknown)}"
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                if name.startswith("MODELROLLOUT_"):
                    patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            settings_class()  # raises ValidationError naming a bad value
