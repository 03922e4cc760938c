{{/*
Names, labels and the few decisions more than one template needs.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "hotloop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name: fullnameOverride, or the release name when it already
contains the chart name (release "hotloop" gives "hotloop"), or "<release>-<chart>".
Names stay within the 63 characters of a label value.
*/}}
{{- define "hotloop.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "hotloop.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "hotloop.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "hotloop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: hotloop
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that find the Pods of this release; they never change after install. */}}
{{- define "hotloop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hotloop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The ServiceAccount the host runs as. */}}
{{- define "hotloop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hotloop.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- $missing := print "serviceAccount.name must name an existing ServiceAccount "
  "when serviceAccount.create is false" -}}
{{- required $missing .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image reference; the tag defaults to the chart's appVersion. */}}
{{- define "hotloop.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The namespace of the plugin ConfigMaps. */}}
{{- define "hotloop.pluginsNamespace" -}}
{{- .Values.plugins.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* The namespace of the leader election Lease. */}}
{{- define "hotloop.leaseNamespace" -}}
{{- .Values.leaderElection.leaseNamespace | default .Release.Namespace -}}
{{- end -}}

{{/*
Whether leader election is on: asked for, or needed because more than one replica runs.
Renders "true" or nothing, so that `if include ...` reads as a boolean.
*/}}
{{- define "hotloop.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) -}}
true
{{- end -}}
{{- end -}}

{{/*
Refuses values that would install something other than what the chart promises: an unknown
log format, a ServiceMonitor without the Service it scrapes, and wildcards in pluginRules
(a "*" grants rights to kinds nobody declared, which is what pluginRules exists to avoid).
*/}}
{{- define "hotloop.validate" -}}
{{- if not (has .Values.logFormat (list "text" "json")) -}}
{{- fail (printf "logFormat is %q; it takes text or json" .Values.logFormat) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail (print "metrics.serviceMonitor.enabled needs metrics.service.enabled: "
  "the ServiceMonitor scrapes that Service") -}}
{{- end -}}
{{- range $index, $rule := .Values.pluginRules -}}
{{- range $field := list "apiGroups" "resources" "verbs" "nonResourceURLs" -}}
{{- if has "*" (get $rule $field | default list) -}}
{{- fail (printf "pluginRules[%d].%s contains \"*\"; %s" $index $field
  "name the groups, resources and verbs the plugin needs (hotloop rbac PLUGIN.wasm prints them)") -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
