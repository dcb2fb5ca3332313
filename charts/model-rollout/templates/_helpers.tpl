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
# kopf watches the three kinds (list, watch) and patches them (its finalizer for the daemons,
# its progress annotations); get: handlers/versioning.py, handlers/driving.py,
# handlers/models.py; list: handlers/models.py (a Model's versions and Experiments); patch: the
# one-shot control annotations, handlers/driving.py.
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions", "experiments", "models"]
  verbs: ["get", "list", "watch", "patch"]
# Status writes: handlers/versioning.py (ModelVersion), handlers/driving.py (Experiment),
# handlers/models.py (Model).
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions/status", "experiments/status", "models/status"]
  verbs: ["patch"]
# Continuous learning, handlers/models.py: a Model creates its next ModelVersion and that
# version's Experiment, and deletes versions beyond its historyLimit.
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions"]
  verbs: ["create", "delete"]
# ... and creates that version's Experiment (handlers/models.py).
- apiGroups: ["modelrollout.dev"]
  resources: ["experiments"]
  verbs: ["create"]
# OwnerReferencesPermissionEnforcement: the Job, Deployment and Service a ModelVersion owns
# carry blockOwnerDeletion (k8s/manifests.py owner_reference).
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions/finalizers"]
  verbs: ["update"]
# Training Jobs: handlers/versioning.py (create, then read their status; delete a stale Job
# left by an earlier ModelVersion of the same name, matched by uid).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create", "delete"]
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
# Webhook signing keys: spec.notify.webhooks[].secretKeyRef, read when a notification is
# sent (handlers/notifications.py). Only `get` on a named Secret: never list or watch.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}

{{- /* The routing tables, in the gateway's (the release) namespace only: routing/gateway.py. */}}
{{- define "model-rollout.operator.routingRules" -}}
# GatewayRouter.apply (get, create, patch) and forget on Experiment deletion (delete).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "patch", "delete"]
{{- end }}

{{/* Feedback store objects' name (bundled Redis: Deployment, Service, Secret). */}}
{{- define "model-rollout.feedbackStore.fullname" -}}
{{- printf "%s-feedback-store" (include "model-rollout.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "model-rollout.feedbackToken.fullname" -}}
{{- printf "%s-feedback-token" (include "model-rollout.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* A generated secret value that survives upgrades: the one in the cluster, else a new one.
Call with (dict "root" $ "name" "<secret>" "key" "<key>"); returns it base64-encoded. */}}
{{- define "model-rollout.keptSecret" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key }}
{{- else }}
{{- randAlphaNum 40 | b64enc }}
{{- end }}
{{- end }}

{{/* A Kubernetes quantity ("2Gi", "512Mi", "1G", "1000") in bytes, as an integer. */}}
{{- define "model-rollout.bytes" -}}
{{- $q := toString . }}
{{- $units := list (list "Ki" 1024) (list "Mi" 1048576) (list "Gi" 1073741824) (list "Ti" 1099511627776) (list "k" 1000) (list "M" 1000000) (list "G" 1000000000) (list "T" 1000000000000) }}
{{- $bytes := "" }}
{{- range $units }}
{{- if and (eq $bytes "") (hasSuffix (index . 0) $q) }}
{{- $bytes = mul (trimSuffix (index . 0) $q | int64) (index . 1) | toString }}
{{- end }}
{{- end }}
{{- if eq $bytes "" }}{{- $bytes = $q | int64 | toString }}{{- end }}
{{- $bytes }}
{{- end }}

{{/* Checks across gateway and feedback values: fail with what to change. */}}
{{- define "model-rollout.feedback.validate" -}}
{{- $gw := .Values.gateway }}
{{- $fb := .Values.feedback }}
{{- if and (eq $fb.store "memory") (or (gt (int $gw.replicas) 1) $gw.autoscaling.enabled) }}
{{- fail (printf "feedback.store=memory keeps each prediction in the one gateway process that answered it, but gateway.replicas=%v%s: most labels would reach another replica and be dropped as unknown. Use feedback.store=redis (feedback.redis.bundled=true, or feedback.redis.url), or gateway.replicas=1 without autoscaling." $gw.replicas (ternary " with autoscaling" "" $gw.autoscaling.enabled)) }}
{{- end }}
{{- if and (eq $fb.store "redis") (not $fb.redis.bundled) (not $fb.redis.url) }}
{{- fail "feedback.redis.url is required when feedback.store=redis and feedback.redis.bundled=false" }}
{{- end }}
{{- end }}
