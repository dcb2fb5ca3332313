{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "model-rollout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release already holds it. */}}
{{- define "model-rollout.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "model-rollout.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "model-rollout.labels" -}}
helm.sh/chart: {{ include "model-rollout.chart" . }}
app.kubernetes.io/name: {{ include "model-rollout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: model-rollout
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: call with (dict "root" $ "component" "operator"). */}}
{{- define "model-rollout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-rollout.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "model-rollout.componentLabels" -}}
{{ include "model-rollout.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "model-rollout.operator.fullname" -}}
{{- printf "%s-operator" (include "model-rollout.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "model-rollout.gateway.fullname" -}}
{{- printf "%s-gateway" (include "model-rollout.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "model-rollout.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "model-rollout.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "model-rollout.gateway.serviceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create }}
{{- default (include "model-rollout.gateway.fullname" .) .Values.gateway.serviceAccount.name }}
{{- else }}
{{- required "gateway.serviceAccount.name is required when gateway.serviceAccount.create is false" .Values.gateway.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "model-rollout.peeringName" -}}
{{- default (include "model-rollout.fullname" .) .Values.operator.peering.name }}
{{- end }}

{{/* Namespaces the operator watches with scope "namespace". */}}
{{- define "model-rollout.watchNamespaces" -}}
{{- if .Values.rbac.watchNamespaces }}
{{- toJson .Values.rbac.watchNamespaces }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* image reference: call with (dict "root" $ "image" .Values.operator.image). */}}
{{- define "model-rollout.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* settings map -> env entries <prefix><KEY_IN_SNAKE_CASE>: (dict "prefix" "..." "settings" map). */}}
{{- define "model-rollout.settingsEnv" -}}
{{- $prefix := .prefix }}
{{- range $key, $value := .settings }}
- name: {{ printf "%s%s" $prefix ($key | snakecase | upper) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Emptydir volume for /tmp, needed with a read-only root filesystem. */}}
{{- define "model-rollout.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end }}

{{/* True (non-empty) when the cluster serves the Prometheus Operator API. */}}
{{- define "model-rollout.hasPrometheusOperator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{- /*
Least privilege: exactly what the operator's code calls in the namespaces it watches, each rule
naming its user (tests/charts/test_chart_rbac.py checks these against the code). Routing
ConfigMaps are not here: they live in the release namespace only ("model-rollout.operator.routingRules").
*/}}
{{- define "model-rollout.operator.rules" -}}
# kopf watches both kinds (list, watch) and patches them (its finalizer for the daemons, its
# progress annotations); get: handlers/versioning.py, handlers/driving.py; patch: the one-shot
# control annotations, handlers/driving.py.
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions", "experiments"]
  verbs: ["get", "list", "watch", "patch"]
# Status writes: handlers/versioning.py (ModelVersion), handlers/driving.py (Experiment).
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions/status", "experiments/status"]
  verbs: ["patch"]
# OwnerReferencesPermissionEnforcement: the Job, Deployment and Service a ModelVersion owns
# carry blockOwnerDeletion (k8s/manifests.py owner_reference).
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions/finalizers"]
  verbs: ["update"]
# Training Jobs: handlers/versioning.py (create, then read their status).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create"]
# Serving Deployments: handlers/versioning.py (create, read readiness, scale).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "create", "patch"]
# The Service in front of each version's server: handlers/versioning.py.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["create"]
# Termination messages of training and serving pods: handlers/versioning.py.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
# Events on ModelVersions and Experiments: k8s/client.py event, handlers/driving.py.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# spec.routing.provider httpRoute: backend weights, routing/httproute.py.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "patch"]
{{- end }}

{{- /* The routing tables, in the gateway's (the release) namespace only: routing/gateway.py. */}}
{{- define "model-rollout.operator.routingRules" -}}
# GatewayRouter.apply (get, create, patch) and forget on Experiment deletion (delete).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "patch", "delete"]
{{- end }}
