{{/*
The scopegate container and its volumes, shared by the standalone Deployment
(mode: standalone) and by application charts that add scopegate as a sidecar
(mode: sidecar, see _sidecar.tpl). Called with the scopegate chart's own context.
*/}}

{{- define "scopegate.sidecarMode" -}}
{{- if eq .Values.mode "sidecar" -}}true{{- end -}}
{{- end -}}

{{- define "scopegate.portName.http" -}}
{{- if include "scopegate.sidecarMode" . -}}{{ .Values.sidecar.portNames.http }}{{- else -}}http{{- end -}}
{{- end -}}

{{- define "scopegate.portName.admin" -}}
{{- if include "scopegate.sidecarMode" . -}}{{ .Values.sidecar.portNames.admin }}{{- else -}}admin{{- end -}}
{{- end -}}

{{/* Volume names: bare in the chart's own pod, prefixed inside an application's pod. */}}
{{- define "scopegate.volumeName" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- if include "scopegate.sidecarMode" $root -}}{{ printf "%s-%s" $root.Values.sidecar.volumePrefix $name }}{{- else -}}{{ $name }}{{- end -}}
{{- end -}}

{{/* A probe from values, with port "admin"/"http" mapped to this mode's port names. */}}
{{- define "scopegate.probe" -}}
{{- $root := index . 0 -}}
{{- $probe := deepCopy (index . 1) -}}
{{- if and $probe.httpGet (kindIs "string" $probe.httpGet.port) -}}
{{- if eq $probe.httpGet.port "admin" -}}
{{- $_ := set $probe.httpGet "port" (include "scopegate.portName.admin" $root) -}}
{{- else if eq $probe.httpGet.port "http" -}}
{{- $_ := set $probe.httpGet "port" (include "scopegate.portName.http" $root) -}}
{{- end -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}

{{/*
The scopegate container (one list item, unindented).
*/}}
{{- define "scopegate.container" -}}
{{- $secretName := include "scopegate.secretName" . -}}
{{- $preStop := include "scopegate.preStopSleep" . | int64 -}}
- name: scopegate
  image: {{ include "scopegate.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- with .Values.command }}
  command:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  args:
    - serve
    - --config
    - {{ include "scopegate.configPath" . }}
    - --log-format
    - {{ .Values.logFormat | quote }}
    {{- with .Values.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    - name: RUST_LOG
      value: {{ .Values.logLevel | quote }}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: {{ include "scopegate.portName.http" . }}
      containerPort: {{ .Values.ports.http }}
      protocol: TCP
    - name: {{ include "scopegate.portName.admin" . }}
      containerPort: {{ .Values.ports.admin }}
      protocol: TCP
  {{- with .Values.livenessProbe }}
  livenessProbe:
    {{- include "scopegate.probe" (list $ .) | nindent 4 }}
  {{- end }}
  {{- with .Values.readinessProbe }}
  readinessProbe:
    {{- include "scopegate.probe" (list $ .) | nindent 4 }}
  {{- end }}
  {{- with .Values.startupProbe }}
  startupProbe:
    {{- include "scopegate.probe" (list $ .) | nindent 4 }}
  {{- end }}
  {{- if gt $preStop 0 }}
  lifecycle:
    preStop:
      sleep:
        seconds: {{ $preStop }}
  {{- end }}
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: {{ include "scopegate.volumeName" (list . "config") }}
      mountPath: {{ include "scopegate.configDir" . }}
      readOnly: true
    {{- if $secretName }}
    - name: {{ include "scopegate.volumeName" (list . "client-secret") }}
      mountPath: {{ include "scopegate.secretDir" . }}
      readOnly: true
    {{- end }}
    {{- if .Values.admin.token.existingSecret }}
    - name: {{ include "scopegate.volumeName" (list . "admin-token") }}
      mountPath: {{ include "scopegate.adminTokenDir" . }}
      readOnly: true
    {{- end }}
    {{- if .Values.tls.existingSecret }}
    - name: {{ include "scopegate.volumeName" (list . "tls") }}
      mountPath: {{ include "scopegate.tlsDir" . }}
      readOnly: true
    {{- end }}
    {{- if .Values.sharedCache.enabled }}
    - name: {{ include "scopegate.volumeName" (list . "shared-cache") }}
      mountPath: {{ include "scopegate.sharedCacheDir" . }}
      readOnly: true
    {{- end }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
The volumes the scopegate container mounts (list items, unindented).
*/}}
{{- define "scopegate.volumes" -}}
{{- $secretName := include "scopegate.secretName" . -}}
- name: {{ include "scopegate.volumeName" (list . "config") }}
  configMap:
    name: {{ include "scopegate.configMapName" . }}
    items:
      - key: scopegate.toml
        path: scopegate.toml
{{- if $secretName }}
- name: {{ include "scopegate.volumeName" (list . "client-secret") }}
  secret:
    secretName: {{ $secretName }}
    defaultMode: 0440
    items:
      - key: {{ include "scopegate.secretKey" . }}
        path: client-secret
{{- end }}
{{- if .Values.admin.token.existingSecret }}
- name: {{ include "scopegate.volumeName" (list . "admin-token") }}
  secret:
    secretName: {{ .Values.admin.token.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.admin.token.existingSecretKey | default "admin-token" }}
        path: admin-token
{{- end }}
{{- if .Values.tls.existingSecret }}
- name: {{ include "scopegate.volumeName" (list . "tls") }}
  secret:
    secretName: {{ .Values.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- with .Values.sharedCache }}
{{- if .enabled }}
{{- /* The key, the Redis password and the CA, from up to three Secrets, in one directory. */}}
- name: {{ include "scopegate.volumeName" (list $ "shared-cache") }}
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ .key.existingSecret }}
          items:
            - key: {{ .key.existingSecretKey | default "cache-key" }}
              path: cache-key
      {{- if .password.existingSecret }}
      - secret:
          name: {{ .password.existingSecret }}
          items:
            - key: {{ .password.existingSecretKey | default "redis-password" }}
              path: redis-password
      {{- end }}
      {{- if .ca.existingSecret }}
      - secret:
          name: {{ .ca.existingSecret }}
          items:
            - key: {{ .ca.existingSecretKey | default "ca.crt" }}
              path: redis-ca.pem
      {{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Pod annotations: config checksum (rolls pods on a config change) and the
prometheus.io scrape annotations.
*/}}
{{- define "scopegate.podAnnotations" -}}
{{- if not .Values.config.existingConfigMap }}
# A config change rolls the pods.
checksum/config: {{ include "scopegate.config" . | sha256sum }}
{{- end }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.admin | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}
