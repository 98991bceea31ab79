{{/*
Names and labels.
*/}}
{{- define "scopegate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scopegate.fullname" -}}
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

{{- define "scopegate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scopegate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scopegate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "scopegate.labels" -}}
helm.sh/chart: {{ include "scopegate.chart" . }}
{{ include "scopegate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scopegate
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Labels of the `helm test` pod: not the selector labels, so that no Service, PDB or
NetworkPolicy of the release picks it up as a scopegate pod.
*/}}
{{- define "scopegate.testLabels" -}}
app.kubernetes.io/name: {{ include "scopegate.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end -}}

{{- define "scopegate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "scopegate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "scopegate.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Where things are mounted inside the container.
*/}}
{{- define "scopegate.configDir" -}}/etc/scopegate{{- end -}}
{{- define "scopegate.configPath" -}}/etc/scopegate/scopegate.toml{{- end -}}
{{- define "scopegate.secretDir" -}}/var/run/secrets/scopegate{{- end -}}
{{- define "scopegate.secretPath" -}}/var/run/secrets/scopegate/client-secret{{- end -}}
{{- define "scopegate.tlsDir" -}}/etc/scopegate/tls{{- end -}}
{{- define "scopegate.adminTokenDir" -}}/var/run/secrets/scopegate-admin{{- end -}}
{{- define "scopegate.adminTokenPath" -}}/var/run/secrets/scopegate-admin/admin-token{{- end -}}
{{- define "scopegate.sharedCacheDir" -}}/var/run/secrets/scopegate-cache{{- end -}}

{{/*
The ConfigMap holding scopegate.toml: an existing one, or the one this chart renders.
*/}}
{{- define "scopegate.configMapName" -}}
{{- .Values.config.existingConfigMap | default (include "scopegate.fullname" .) -}}
{{- end -}}

{{/*
Service appProtocol: explicit, else https with TLS on the listener, else http.
*/}}
{{- define "scopegate.appProtocol" -}}
{{- if .Values.service.appProtocol -}}
{{- .Values.service.appProtocol -}}
{{- else if .Values.tls.existingSecret -}}
https
{{- else -}}
http
{{- end -}}
{{- end -}}

{{/*
PromQL label matchers for this release's series.
*/}}
{{- define "scopegate.promSelector" -}}
{{- if .Values.prometheusRule.selector -}}
{{- .Values.prometheusRule.selector -}}
{{- else -}}
{{- printf "namespace=%q, pod=~%q" .Release.Namespace (printf "%s-.*" (include "scopegate.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{/*
The public route `helm test` requests: tests.publicPath, else the first public
route whose path has no {param} and no **; empty when there is none.
*/}}
{{- define "scopegate.testPublicPath" -}}
{{- if .Values.tests.publicPath -}}
{{- .Values.tests.publicPath -}}
{{- else if not (or .Values.config.raw .Values.config.existingConfigMap) -}}
{{- $found := "" -}}
{{- range .Values.routes -}}
{{- if and (not $found) (kindIs "map" .) .public .path (not (contains "{" (toString .path))) (not (contains "**" (toString .path))) -}}
{{- if or (not .methods) (has "GET" .methods) -}}
{{- $found = toString .path -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $found -}}
{{- end -}}
{{- end -}}

{{/*
The Secret holding the introspection client secret: an existing one, or the one
this chart renders from introspection.clientSecret.value. Empty when neither.
*/}}
{{- define "scopegate.secretName" -}}
{{- if .Values.introspection.clientSecret.existingSecret -}}
{{- .Values.introspection.clientSecret.existingSecret -}}
{{- else if .Values.introspection.clientSecret.value -}}
{{- include "scopegate.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "scopegate.secretKey" -}}
{{- if .Values.introspection.clientSecret.existingSecret -}}
{{- .Values.introspection.clientSecret.existingSecretKey | default "client-secret" -}}
{{- else -}}
client-secret
{{- end -}}
{{- end -}}

{{/*
A duration string ("30s", "500ms", "2m", "1h") as whole seconds, rounded up.
Empty when the string has another form (e.g. "1m 30s"); callers then require an
explicit value instead of guessing.
*/}}
{{- define "scopegate.durationSeconds" -}}
{{- $d := toString . | trim -}}
{{- if regexMatch "^[0-9]+ms$" $d -}}
{{- $ms := trimSuffix "ms" $d | int64 -}}
{{- div (add $ms 999) 1000 -}}
{{- else if regexMatch "^[0-9]+s$" $d -}}
{{- trimSuffix "s" $d | int64 -}}
{{- else if regexMatch "^[0-9]+m$" $d -}}
{{- mul (trimSuffix "m" $d | int64) 60 -}}
{{- else if regexMatch "^[0-9]+h$" $d -}}
{{- mul (trimSuffix "h" $d | int64) 3600 -}}
{{- end -}}
{{- end -}}

{{/*
scopegate's shutdown_grace in seconds (default 30s).
*/}}
{{- define "scopegate.shutdownGraceSeconds" -}}
{{- $grace := "30s" -}}
{{- if or .Values.config.raw .Values.config.existingConfigMap -}}
{{- $grace = .Values.config.rawShutdownGrace | default "30s" -}}
{{- else if .Values.config.listen -}}
{{- $grace = .Values.config.listen.shutdown_grace | default "30s" -}}
{{- else if false -}}
{{- $grace = .Values.config.rawShutdownGrace | default "30s" -}}
{{- end -}}
{{- include "scopegate.durationSeconds" $grace -}}
{{- end -}}

{{/*
preStop sleep in seconds, 0 when disabled or when the cluster has no sleep action
(Kubernetes < 1.30).
*/}}
{{- define "scopegate.preStopSleep" -}}
{{- $s := int64 (.Values.lifecycle.preStopSleepSeconds | default 0) -}}
{{- if and (gt $s 0) (semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version) -}}
{{- $s -}}
{{- else -}}
0
{{- end -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: explicit, or preStop sleep + shutdown_grace + 10s.
Either way it must exceed preStop sleep + shutdown_grace, or the kubelet would
SIGKILL scopegate in the middle of its drain.
*/}}
{{- define "scopegate.terminationGracePeriodSeconds" -}}
{{- $grace := include "scopegate.shutdownGraceSeconds" . -}}
{{- $sleep := include "scopegate.preStopSleep" . | int64 -}}
{{- if .Values.terminationGracePeriodSeconds -}}
{{- $t := int64 .Values.terminationGracePeriodSeconds -}}
{{- if and $grace (le $t (add $sleep (int64 $grace))) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than the preStop sleep (%d s) + [listen] shutdown_grace (%s s)" $t $sleep $grace) -}}
{{- end -}}
{{- $t -}}
{{- else if $grace -}}
{{- add $sleep (int64 $grace) 10 -}}
{{- else -}}
{{- fail "cannot read [listen] shutdown_grace as a single-unit duration (\"30s\", \"2m\"); set terminationGracePeriodSeconds explicitly" -}}
{{- end -}}
{{- end -}}

{{/*
TOML rendering. Values mirror the TOML keys of docs/reference.md#configuration one to one (snake_case).

scopegate.toml.key: a key, bare when it can be, else a quoted string.
*/}}
{{- define "scopegate.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}
{{- . -}}
{{- else -}}
{{- toJson . -}}
{{- end -}}
{{- end -}}

{{/*
scopegate.toml.value: one value. Strings become TOML basic strings (a JSON string
is one: same escapes), whole numbers integers (Helm reads every YAML number as a
float), lists arrays and maps inline tables.
*/}}
{{- define "scopegate.toml.value" -}}
{{- $v := . -}}
{{- $k := kindOf $v -}}
{{- if eq $k "string" -}}
{{- toJson $v -}}
{{- else if eq $k "bool" -}}
{{- ternary "true" "false" $v -}}
{{- else if or (eq $k "float64") (eq $k "float32") -}}
{{- if eq (float64 (int64 $v)) (float64 $v) -}}{{- int64 $v -}}{{- else -}}{{- $v -}}{{- end -}}
{{- else if hasPrefix "int" $k -}}
{{- $v -}}
{{- else if eq $k "slice" -}}
{{- $items := list -}}
{{- range $v -}}
{{- $items = append $items (include "scopegate.toml.value" .) -}}
{{- end -}}
[{{ join ", " $items }}]
{{- else if eq $k "map" -}}
{{- $items := list -}}
{{- range $key, $item := $v -}}
{{- if not (kindIs "invalid" $item) -}}
{{- $items = append $items (printf "%s = %s" (include "scopegate.toml.key" $key) (include "scopegate.toml.value" $item)) -}}
{{- end -}}
{{- end -}}
{{- printf "{ %s }" (join ", " $items) -}}
{{- else -}}
{{- fail (printf "cannot render %v (%s) as a TOML value" $v $k) -}}
{{- end -}}
{{- end -}}

{{/*
scopegate.toml.table: the body of one table.
  dict "values" <map> "skip" <list of keys left out> "name" <table path for sub-tables>
       "inline" <list of map keys rendered as inline tables rather than sub-tables>
Scalars and lists first (sorted by key), then each map value as [name.key].
null values are left out, so a user can drop a default with `key: null`.
*/}}
{{- define "scopegate.toml.table" -}}
{{- $skip := .skip | default list -}}
{{- $inline := .inline | default list -}}
{{- $name := .name -}}
{{- $vals := .values | default dict -}}
{{- range $key, $v := $vals -}}
{{- if and (not (has $key $skip)) (not (kindIs "invalid" $v)) (or (not (kindIs "map" $v)) (has $key $inline)) }}
{{ include "scopegate.toml.key" $key }} = {{ include "scopegate.toml.value" $v }}
{{- end -}}
{{- end -}}
{{- range $key, $v := $vals -}}
{{- if and (not (has $key $skip)) (kindIs "map" $v) (not (has $key $inline)) (gt (len $v) 0) }}

[{{ $name }}.{{ include "scopegate.toml.key" $key }}]
{{- include "scopegate.toml.table" (dict "values" $v "name" (printf "%s.%s" $name (include "scopegate.toml.key" $key))) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The whole scopegate.toml: config.raw verbatim, else rendered from values.
*/}}
{{- define "scopegate.config" -}}
{{- if .Values.config.raw -}}
{{- .Values.config.raw -}}
{{- else -}}
{{- $c := .Values.config -}}
# scopegate.toml rendered by the {{ .Chart.Name }} chart {{ .Chart.Version }} (release {{ .Release.Name }}).
# Keys: docs/reference.md#configuration. Check it with: scopegate check --config {{ include "scopegate.configPath" . }}

[listen]
addr = {{ printf "0.0.0.0:%d" (int64 .Values.ports.http) | toJson }}
{{- include "scopegate.toml.table" (dict "values" $c.listen "skip" (list "addr" "tls") "name" "listen") }}
{{- if .Values.tls.existingSecret }}

[listen.tls]
cert = {{ printf "%s/%s" (include "scopegate.tlsDir" .) .Values.tls.certKey | toJson }}
key = {{ printf "%s/%s" (include "scopegate.tlsDir" .) .Values.tls.keyKey | toJson }}
{{- end }}

# The admin listener (/healthz, /readyz, /metrics, POST /cache/purge) binds the pod
# IP so that the kubelet and Prometheus reach it; keep it off any public Service.
[admin]
addr = {{ printf "0.0.0.0:%d" (int64 .Values.ports.admin) | toJson }}
{{- if .Values.admin.token.existingSecret }}
token_file = {{ include "scopegate.adminTokenPath" . | toJson }}
{{- end }}

[upstream]
url = {{ required "upstream.url is required (the API scopegate protects), or supply config.raw" .Values.upstream.url | toJson }}
{{- with .Values.upstream.timeout }}
timeout = {{ toJson . }}
{{- end }}
{{- include "scopegate.toml.table" (dict "values" $c.upstream "skip" (list "url" "timeout") "name" "upstream") }}

[introspection]
endpoint = {{ required "introspection.endpoint is required (the RFC 7662 introspection URL), or supply config.raw" .Values.introspection.endpoint | toJson }}
client_id = {{ required "introspection.clientId is required, or supply config.raw" .Values.introspection.clientId | toJson }}
{{- if include "scopegate.secretName" . }}
client_secret_file = {{ include "scopegate.secretPath" . | toJson }}
{{- else if not $c.introspection.client_secret_env }}
{{- fail "set introspection.clientSecret.existingSecret (recommended) or introspection.clientSecret.value" }}
{{- end }}
{{- with .Values.introspection.authMethod }}
auth_method = {{ toJson . }}
{{- end }}
{{- with .Values.introspection.timeout }}
timeout = {{ toJson . }}
{{- end }}
{{- include "scopegate.toml.table" (dict "values" $c.introspection "skip" (list "endpoint" "client_id" "client_secret_file" "auth_method" "timeout" "cache") "name" "introspection") }}
{{- if $c.cache }}

[introspection.cache]
{{- include "scopegate.toml.table" (dict "values" $c.cache "name" "introspection.cache") }}
{{- end }}
{{- with .Values.sharedCache }}
{{- if .enabled }}
{{- $dir := include "scopegate.sharedCacheDir" $ }}
{{- $url := required "sharedCache.url is required when sharedCache.enabled (redis:// or rediss://)" .url }}
{{- if not (regexMatch "^rediss?://" $url) }}
{{- fail "sharedCache.url must start with redis:// or rediss://" }}
{{- end }}
{{- if regexMatch "^rediss?://[^/]*@" $url }}
{{- fail "sharedCache.url must not carry credentials: use sharedCache.username and sharedCache.password.existingSecret" }}
{{- end }}
{{- if not .key.existingSecret }}
{{- fail "sharedCache.key.existingSecret is required when sharedCache.enabled (head -c 32 /dev/urandom | base64 > key; kubectl create secret generic NAME --from-file=cache-key=key)" }}
{{- end }}
{{- if and .ca.existingSecret (not (hasPrefix "rediss://" $url)) }}
{{- fail "sharedCache.ca.existingSecret needs a rediss:// url" }}
{{- end }}

# Shared cache across replicas (docs/reference.md#shared-cache).
[introspection.cache.shared]
url = {{ toJson $url }}
key_file = {{ printf "%s/cache-key" $dir | toJson }}
{{- if .password.existingSecret }}
password_file = {{ printf "%s/redis-password" $dir | toJson }}
{{- end }}
{{- with .username }}
username = {{ toJson . }}
{{- end }}
{{- with .prefix }}
prefix = {{ toJson . }}
{{- end }}
{{- with .timeout }}
timeout = {{ toJson . }}
{{- end }}
{{- if .ca.existingSecret }}
ca_file = {{ printf "%s/redis-ca.pem" $dir | toJson }}
{{- end }}
{{- end }}
{{- end }}
{{- if $c.token }}

[token]
{{- include "scopegate.toml.table" (dict "values" $c.token "name" "token") }}
{{- end }}
{{- if $c.identity }}

[identity]
{{- include "scopegate.toml.table" (dict "values" $c.identity "name" "identity") }}
{{- end }}
{{- range $i, $r := .Values.routes }}
{{- if not (kindIs "map" $r) }}
{{- fail (printf "routes[%d] must be a map with at least `path`" $i) }}
{{- end }}
{{- if not $r.path }}
{{- fail (printf "routes[%d] has no path" $i) }}
{{- end }}

[[route]]
path = {{ toJson $r.path }}
{{- include "scopegate.toml.table" (dict "values" $r "skip" (list "path") "inline" (list "owner") "name" "route") }}
{{- end }}
{{- end }}
{{- end -}}
