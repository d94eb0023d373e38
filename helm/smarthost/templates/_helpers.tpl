{{/* Names and labels shared by the templates. */}}

{{- define "smarthost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "smarthost.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "smarthost.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "smarthost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smarthost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "smarthost.labels" -}}
helm.sh/chart: {{ include "smarthost.chart" . }}
{{ include "smarthost.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "smarthost.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The ConfigMap holding smarthost.toml: the rendered one or config.existingConfigMap. */}}
{{- define "smarthost.configMapName" -}}
{{- default (include "smarthost.fullname" .) .Values.config.existingConfigMap -}}
{{- end -}}

{{/* smarthost.toml from files/smarthost.toml and config.extraToml. */}}
{{- define "smarthost.config" -}}
{{- if and .Values.smtp.proxyProtocol.enabled (not .Values.smtp.proxyProtocol.trustedProxies) -}}
{{- fail "smtp.proxyProtocol.enabled needs smtp.proxyProtocol.trustedProxies: the networks the load balancer connects from" -}}
{{- end -}}
{{- tpl (.Files.Get "files/smarthost.toml") . }}
{{- with .Values.config.extraToml }}

# config.extraToml
{{ . }}
{{- end }}
{{- end -}}

{{/*
The environment of every smarthost container: the database URL from its Secret.
*/}}
{{- define "smarthost.env" -}}
- name: SMARTHOST_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret: the Secret holding the PostgreSQL URL" .Values.database.existingSecret }}
      key: {{ .Values.database.secretKey }}
{{- end -}}
