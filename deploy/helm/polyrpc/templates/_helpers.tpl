{{/*
Names, labels and the checks every template shares.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "polyrpc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* `<release>-<chart>` (just the release when it already contains the chart name), or fullnameOverride. */}}
{{- define "polyrpc.fullname" -}}
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

{{- define "polyrpc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "polyrpc.labels" -}}
helm.sh/chart: {{ include "polyrpc.chart" . }}
{{ include "polyrpc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: polyrpc
{{- end }}

{{- define "polyrpc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "polyrpc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one app's resources; call with (dict "root" $ "app" "user-service"). */}}
{{- define "polyrpc.appLabels" -}}
{{ include "polyrpc.labels" .root }}
app.kubernetes.io/component: {{ .app }}
{{- end }}

{{- define "polyrpc.appSelectorLabels" -}}
{{ include "polyrpc.selectorLabels" .root }}
app.kubernetes.io/component: {{ .app }}
{{- end }}

{{/* The values key of an app: user-service -> userService, chat -> chat. */}}
{{- define "polyrpc.appKey" -}}
{{- camelcase (replace "-" "_" .) | untitle }}
{{- end }}

{{/* `<fullname>-<app>`; call with (dict "root" $ "app" "chat"). */}}
{{- define "polyrpc.appFullname" -}}
{{- printf "%s-%s" (include "polyrpc.fullname" .root) .app | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The headless Service of an app: `<fullname>-<app>-headless`. */}}
{{- define "polyrpc.headlessName" -}}
{{- printf "%s-%s-headless" (include "polyrpc.fullname" .root) .app | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The app's plaintext port inside the pod (the other end of Envoy's local cluster). */}}
{{- define "polyrpc.appPort" -}}
{{- $key := include "polyrpc.appKey" .app }}
{{- (index .root.Values.envoy $key).port }}
{{- end }}

{{/* The port the Services expose: Envoy's TLS listener, or the app's port without the sidecar. */}}
{{- define "polyrpc.servicePort" -}}
{{- if .root.Values.envoy.enabled }}{{ .root.Values.envoy.port }}{{ else }}{{ include "polyrpc.appPort" . }}{{ end }}
{{- end }}

{{- define "polyrpc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "polyrpc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret Envoy's certificate comes from. */}}
{{- define "polyrpc.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "polyrpc.fullname" .)) .Values.envoy.tls.secretName }}
{{- end }}

{{/* `repository@digest`, or `repository:tag` (tag defaults to the appVersion); call with (dict "root" $ "image" .image). */}}
{{- define "polyrpc.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{/* True (non-empty) when the apps use PostgreSQL rather than SQLite. */}}
{{- define "polyrpc.externalDatabase" -}}
{{- if .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* The securityContext of every container: Pod Security "restricted". */}}
{{- define "polyrpc.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The preStop hook: sleep for .seconds, through /bin/sleep or the kubelet's sleep action. */}}
{{- define "polyrpc.preStop" -}}
preStop:
  {{- if eq .root.Values.shutdown.preStopAction "sleep" }}
  sleep:
    seconds: {{ .seconds }}
  {{- else }}
  exec:
    command: ["sleep", "{{ .seconds }}"]
  {{- end }}
{{- end }}

{{/*
Render-time checks of combinations the schema cannot express; each fails with what to change.
*/}}
{{- define "polyrpc.validate" -}}
{{- $external := include "polyrpc.externalDatabase" . }}
{{- range $app := list "user-service" "chat" }}
{{- $v := index $.Values (include "polyrpc.appKey" $app) }}
{{- if not $external }}
{{- if gt (int $v.replicaCount) 1 }}
{{- fail (printf "%s.replicaCount is %d, but without database.existingSecret each app keeps SQLite on a ReadWriteOnce volume and must run exactly one replica: set database.existingSecret (PostgreSQL) or replicaCount 1" (include "polyrpc.appKey" $app) (int $v.replicaCount)) }}
{{- end }}
{{- if $v.autoscaling.enabled }}
{{- fail (printf "%s.autoscaling.enabled needs several replicas, but without database.existingSecret each app keeps SQLite on a ReadWriteOnce volume and must run exactly one replica: set database.existingSecret (PostgreSQL) or disable autoscaling" (include "polyrpc.appKey" $app)) }}
{{- end }}
{{- end }}
{{- end }}
{{- $grace := int .Values.shutdown.terminationGracePeriodSeconds }}
{{- $needed := add (int .Values.shutdown.preStopSleepSeconds) (div (add (int .Values.shutdown.timeoutMs) 999) 1000) }}
{{- if le $grace (int $needed) }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must exceed shutdown.preStopSleepSeconds + shutdown.timeoutMs (%d s), or the kubelet kills the pods before they drain" $grace (int $needed)) }}
{{- end }}
{{- if gt (int .Values.shutdown.drainMs) (int .Values.shutdown.timeoutMs) }}
{{- fail "shutdown.drainMs must not exceed shutdown.timeoutMs: streams are ended at the drain deadline, everything is cut at the timeout" }}
{{- end }}
{{- if eq .Values.auth.mode "hs256" }}
{{- if not .Values.auth.hs256.existingSecret }}
{{- fail "auth.mode is hs256: set auth.hs256.existingSecret to a Secret holding the shared secret (at least 32 bytes) under auth.hs256.secretKey" }}
{{- end }}
{{- end }}
{{- if eq .Values.auth.mode "jwks" }}
{{- if and (not .Values.auth.jwks.url) (not .Values.auth.jwks.existingConfigMap) }}
{{- fail "auth.mode is jwks: set auth.jwks.url or auth.jwks.existingConfigMap" }}
{{- end }}
{{- if and .Values.auth.jwks.url .Values.auth.jwks.existingConfigMap }}
{{- fail "auth.jwks.url and auth.jwks.existingConfigMap are exclusive; set one" }}
{{- end }}
{{- if and .Values.tests.enabled (not .Values.tests.tokenSecret.name) }}
{{- fail "auth.mode is jwks: the test pod needs a token with the admin role from tests.tokenSecret (name, key), or set tests.enabled false" }}
{{- end }}
{{- end }}
{{- end }}
