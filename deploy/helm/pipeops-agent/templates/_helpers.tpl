{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "pipeops-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name. */}}
{{- define "pipeops-agent.fullname" -}}
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

{{- define "pipeops-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Recommended labels on every object. */}}
{{- define "pipeops-agent.labels" -}}
helm.sh/chart: {{ include "pipeops-agent.chart" . }}
{{ include "pipeops-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pipeops
{{- end }}

{{- define "pipeops-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pipeops-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The agent's own ServiceAccount. */}}
{{- define "pipeops-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pipeops-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The control plane's ServiceAccount, its token Secret and its ClusterRole. */}}
{{- define "pipeops-agent.cpServiceAccountName" -}}
{{- default (printf "%s-control-plane" (include "pipeops-agent.fullname" .) | trunc 63 | trimSuffix "-") .Values.controlPlaneAccess.serviceAccountName }}
{{- end }}

{{- define "pipeops-agent.cpTokenSecretName" -}}
{{- printf "%s-token" (include "pipeops-agent.cpServiceAccountName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pipeops-agent.cpClusterRoleName" -}}
{{- default (printf "%s-control-plane" (include "pipeops-agent.fullname" .) | trunc 63 | trimSuffix "-") .Values.controlPlaneAccess.clusterRole.name }}
{{- end }}

{{/* Secret and key holding the agent token. */}}
{{- define "pipeops-agent.tokenSecretName" -}}
{{- default (include "pipeops-agent.fullname" .) .Values.existingSecret.name }}
{{- end }}

{{- define "pipeops-agent.tokenSecretKey" -}}
{{- if .Values.existingSecret.name }}{{ .Values.existingSecret.key }}{{ else }}token{{ end }}
{{- end }}

{{/* Namespace of the state ConfigMap/Secret: config.agent.state_namespace, else the release namespace (the SA's). */}}
{{- define "pipeops-agent.stateNamespace" -}}
{{- default .Release.Namespace .Values.config.agent.state_namespace }}
{{- end }}

{{- define "pipeops-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* services/proxy is needed when Services are reached through the API server. */}}
{{- define "pipeops-agent.needsServiceProxy" -}}
{{- if or .Values.rbac.serviceProxy (eq .Values.config.kubernetes.service_proxy "apiserver") }}true{{ end }}
{{- end }}

{{/*
config.gateway with the product's `agent.gateway.*` values applied over it (values.yaml explains the mapping), as
YAML; the ConfigMap and the exposure Role both read it.
*/}}
{{- define "pipeops-agent.gatewayConfig" -}}
{{- $g := deepCopy .Values.config.gateway }}
{{- $a := dict }}
{{- if .Values.agent }}{{ $a = .Values.agent.gateway | default dict }}{{ end }}
{{- if hasKey $a "enabled" }}{{ $_ := set $g "enabled" $a.enabled }}{{ end }}
{{- with $a.environment }}
{{- if hasKey . "mode" }}{{ $_ := set $g.environment "mode" .mode }}{{ end }}
{{- if hasKey . "vmIP" }}{{ $_ := set $g.environment "vm_ip" .vmIP }}{{ end }}
{{- end }}
{{- with $a.istio }}
{{- if hasKey . "enabled" }}{{ $_ := set $g.istio "enabled" .enabled }}{{ end }}
{{- with .service }}
{{- if hasKey . "create" }}{{ $_ := set $g.istio.service "create" .create }}{{ end }}
{{- if hasKey . "namespace" }}{{ $_ := set $g.istio.service "namespace" .namespace }}{{ end }}
{{- end }}
{{- end }}
{{- with $a.gatewayApi }}
{{- if hasKey . "enabled" }}{{ $_ := set $g.gateway_api "enabled" .enabled }}{{ end }}
{{- if hasKey . "gatewayClass" }}{{ $_ := set $g.gateway_api "gateway_class" .gatewayClass }}{{ end }}
{{- end }}
{{- toYaml $g }}
{{- end }}
