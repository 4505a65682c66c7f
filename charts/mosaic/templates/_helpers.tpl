{{/*
mosaic.name is the chart name, or nameOverride.
*/}}
{{- define "mosaic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
mosaic.fullname starts every resource name: the release name when it contains the chart name
(release "mosaic" gives config/default's names), else "<release>-<chart>"; at most 28 characters, so
the longest name built on it (<fullname>-controller-manager-metrics-service) is a valid Service name.
*/}}
{{- define "mosaic.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- $name := include "mosaic.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 28 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
mosaic.labels are on every object.
*/}}
{{- define "mosaic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "mosaic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: mosaic
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- end }}

{{/*
mosaic.selectorLabels select the manager pods (Deployment, metrics and webhook Services).
*/}}
{{- define "mosaic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mosaic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/* Names shared by several templates and by the manager's flags. */}}
{{- define "mosaic.serviceAccountName" -}}{{ include "mosaic.fullname" . }}-controller-manager{{- end }}
{{- define "mosaic.webhookServiceName" -}}{{ include "mosaic.fullname" . }}-webhook-service{{- end }}
{{- define "mosaic.webhookCertSecretName" -}}{{ include "mosaic.fullname" . }}-webhook-server-cert{{- end }}
{{- define "mosaic.servingCertName" -}}{{ include "mosaic.fullname" . }}-serving-cert{{- end }}

{{/*
The webhook configurations' names. They are cluster-scoped and the manager's certificate rotator
injects the CA into them by these names, which it has as defaults (internal/webhook
DefaultCertOptions) and takes no flag for: they are fixed, so one Mosaic runs per cluster.
*/}}
{{- define "mosaic.mutatingWebhookConfigurationName" -}}mosaic-mutating-webhook-configuration{{- end }}
{{- define "mosaic.validatingWebhookConfigurationName" -}}mosaic-validating-webhook-configuration{{- end }}

{{/*
mosaic.image renders repository:tag, the tag defaulting to the chart's appVersion.
Call with (dict "image" .Values.image "chart" .Chart).
*/}}
{{- define "mosaic.image" -}}
{{- printf "%s:%s" .image.repository (default .chart.AppVersion .image.tag) }}
{{- end }}

{{/*
mosaic.generatedDocs parses a generated multi-document YAML file of the chart (files/) into a
list of objects, as {"items": [...]} in JSON (templates can return only strings).
*/}}
{{- define "mosaic.generatedDocs" -}}
{{- $items := list }}
{{- range $doc := regexSplit "(?m)^---\\s*$" (.Files.Get .path) -1 }}
{{- $obj := fromYaml $doc }}
{{- if and $obj $obj.kind }}
{{- $items = append $items $obj }}
{{- end }}
{{- end }}
{{- if not $items }}
{{- fail (printf "%s has no objects: run `make manifests`" .path) }}
{{- end }}
{{- dict "items" $items | toJson }}
{{- end }}

{{/*
mosaic.generatedObject picks the object of kind from a generated file of the chart.
Call with (dict "Files" .Files "path" "files/role.yaml" "kind" "ClusterRole"); returns JSON.
*/}}
{{- define "mosaic.generatedObject" -}}
{{- $found := dict }}
{{- range (include "mosaic.generatedDocs" . | fromJson).items }}
{{- if eq .kind $.kind }}
{{- $found = . }}
{{- end }}
{{- end }}
{{- if not $found }}
{{- fail (printf "%s has no %s: run `make manifests`" .path .kind) }}
{{- end }}
{{- $found | toJson }}
{{- end }}
