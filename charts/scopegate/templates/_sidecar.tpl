{{/*
Sidecar mode: named templates an application chart uses to put scopegate in front
of its app container, in its own pods. Walkthrough: docs/sidecar.md; a complete
chart: charts/examples/orders-sidecar.

In the application chart:
  Chart.yaml       dependencies: [{name: scopegate, version: 0.1.0, repository: ...}]
  values.yaml      scopegate: {mode: sidecar, upstream: {url: "http://127.0.0.1:3000"}, ...}
  deployment.yaml  (each called with the scopegate subchart's context)
    metadata.annotations:           {{ include "scopegate.sidecar.podAnnotations" .Subcharts.scopegate | nindent 8 }}
    terminationGracePeriodSeconds:  {{ include "scopegate.sidecar.terminationGracePeriodSeconds" .Subcharts.scopegate }}
    containers:                     {{ include "scopegate.sidecar.container" .Subcharts.scopegate | nindent 8 }}
    volumes:                        {{ include "scopegate.sidecar.volumes" .Subcharts.scopegate | nindent 8 }}
  service.yaml     targetPort: {{ include "scopegate.sidecar.httpPortName" .Subcharts.scopegate }}

With mode: sidecar the scopegate chart itself renders only the ConfigMap (and the
client Secret when introspection.clientSecret.value is set), named
"<release>-scopegate"; no Deployment, Service, PDB, HPA, NetworkPolicy or test.
*/}}

{{- define "scopegate.sidecar.assertMode" -}}
{{- if not (include "scopegate.sidecarMode" .) -}}
{{- fail "the scopegate.sidecar.* templates need the scopegate subchart's values to set mode: sidecar (and call them with .Subcharts.scopegate)" -}}
{{- end -}}
{{- end -}}

{{/* The scopegate container: one item of the pod's `containers` list. */}}
{{- define "scopegate.sidecar.container" -}}
{{- include "scopegate.sidecar.assertMode" . -}}
{{- include "scopegate.container" . -}}
{{- end -}}

{{/* Its volumes: items of the pod's `volumes` list. */}}
{{- define "scopegate.sidecar.volumes" -}}
{{- include "scopegate.sidecar.assertMode" . -}}
{{- include "scopegate.volumes" . -}}
{{- end -}}

{{/*
Pod annotations: checksum/scopegate-config (a config change rolls the pods) and
the prometheus.io scrape annotations for scopegate's admin port.
*/}}
{{- define "scopegate.sidecar.podAnnotations" -}}
{{- include "scopegate.sidecar.assertMode" . -}}
{{- include "scopegate.sidecar.podAnnotationLines" . | trim -}}
{{- end -}}

{{- define "scopegate.sidecar.podAnnotationLines" -}}
{{- if not .Values.config.existingConfigMap }}
checksum/scopegate-config: {{ include "scopegate.config" . | sha256sum }}
{{- end }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.admin | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/*
The pod's terminationGracePeriodSeconds: preStop sleep + [listen] shutdown_grace +
10 s (or scopegate's terminationGracePeriodSeconds value, checked to exceed both).
Your app container must drain within it too.
*/}}
{{- define "scopegate.sidecar.terminationGracePeriodSeconds" -}}
{{- include "scopegate.sidecar.assertMode" . -}}
{{- include "scopegate.terminationGracePeriodSeconds" . -}}
{{- end -}}

{{/* The name of scopegate's serving port in the pod: the Service's targetPort. */}}
{{- define "scopegate.sidecar.httpPortName" -}}
{{- include "scopegate.sidecar.assertMode" . -}}
{{- include "scopegate.portName.http" . -}}
{{- end -}}

{{/* The name of scopegate's admin port (probes, ServiceMonitor/PodMonitor). */}}
{{- define "scopegate.sidecar.adminPortName" -}}
{{- include "scopegate.sidecar.assertMode" . -}}
{{- include "scopegate.portName.admin" . -}}
{{- end -}}
