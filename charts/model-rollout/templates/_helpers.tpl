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
Least privilege: only what the operator does. Its own resources (read, patch, status),
training Jobs, serving Deployments/Services, routing ConfigMaps, Events, Pods (termination
messages of training Jobs), Gateway API HTTPRoutes (traffic weights), kopf peering.
*/}}
{{- define "model-rollout.operator.rules" -}}
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions", "experiments"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["modelrollout.dev"]
  resources: ["modelversions/status", "experiments/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["create", "get", "list", "watch", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["create", "get", "list", "watch", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "get", "list", "watch", "patch", "update", "delete"]
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "patch", "update"]
{{- end }}
