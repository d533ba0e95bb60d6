{{/*
Helpers for the carbon-platform chart.
Naming follows the usual Helm/bitnami conventions: every object is named
"<fullname>-<component>", labels follow app.kubernetes.io/*.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "carbon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name (63 chars max, DNS-1123). If the release name already
contains the chart name it is used as is.
*/}}
{{- define "carbon.fullname" -}}
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

{{/* "<fullname>-<component>". Usage: include "carbon.componentName" (dict "root" $ "component" "consent") */}}
{{- define "carbon.componentName" -}}
{{- printf "%s-%s" (include "carbon.fullname" .root | trunc 45 | trimSuffix "-") .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "carbon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "carbon.namespace" -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* Release-wide selector labels (selects every pod of the release). */}}
{{- define "carbon.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "carbon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one component. Usage: include "carbon.selectorLabels" (dict "root" $ "component" "consent") */}}
{{- define "carbon.selectorLabels" -}}
{{ include "carbon.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Standard labels of one component. Usage: include "carbon.labels" (dict "root" $ "component" "consent") */}}
{{- define "carbon.labels" -}}
helm.sh/chart: {{ include "carbon.chart" .root }}
{{ include "carbon.selectorLabels" . }}
app.kubernetes.io/part-of: carbon-platform
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* commonAnnotations rendered under metadata.annotations (or nothing). */}}
{{- define "carbon.commonAnnotations" -}}
{{- with .Values.commonAnnotations }}
{{ dict "annotations" . | toYaml | indent 2 }}
{{- end }}
{{- end -}}

{{/* The service catalog (carbon.catalog, carbon.serviceKeys, carbon.targetEnvName) is generated
   into _catalog.tpl by `make catalog`. */}}

{{/* "true" when the service of values key .key talks to the Kubernetes API (rating importing scheme ConfigMaps). */}}
{{- define "carbon.kubeApi" -}}
{{- and (eq .key "rating") (eq .root.Values.rating.schemeSource "configmap") -}}
{{- end -}}

{{/*
Image reference. Usage:
  include "carbon.image" (dict "image" .Values.consent.image "default" .Values.image "root" $)
registry: global.imageRegistry > image.registry > default.registry
tag:      image.tag > default.tag > Chart.appVersion ; a digest wins over the tag.
*/}}
{{- define "carbon.image" -}}
{{- $default := .default | default dict -}}
{{- $registry := coalesce .root.Values.global.imageRegistry .image.registry $default.registry -}}
{{- $tag := coalesce .image.tag $default.tag .root.Chart.AppVersion | toString -}}
{{- if eq $tag "latest" -}}
{{- fail (printf "image %s: the mutable tag \"latest\" is not allowed, pin a version" .image.repository) -}}
{{- end -}}
{{- $ref := .image.repository -}}
{{- if $registry -}}
{{- $ref = printf "%s/%s" $registry $ref -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- end -}}

{{- define "carbon.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Name of the Secret holding CARBON_SERVICE_SECRET. */}}
{{- define "carbon.serviceSecretName" -}}
{{- required "serviceSecret.existingSecret must name the Secret holding the service HMAC key" .Values.serviceSecret.existingSecret -}}
{{- end -}}

{{/* Internal Redis object names. */}}
{{- define "carbon.redis.fullname" -}}
{{- include "carbon.componentName" (dict "root" . "component" "redis") -}}
{{- end -}}

{{- define "carbon.redis.passwordSecretName" -}}
{{- required "redis.internal.auth.existingSecret must name the Secret holding the Redis password" .Values.redis.internal.auth.existingSecret -}}
{{- end -}}

{{/* Where the services read their secrets as files (CARBON_SECRETS_DIR, see carbon_common.settings). */}}
{{- define "carbon.secretsDir" -}}
/var/run/secrets/carbon
{{- end -}}

{{/*
Env vars that give a pod its Redis URL. Secrets are files (carbon.secretsVolume), never env vars:
internal: CARBON_REDIS_URL without password here; the password is the file carbon_redis_password
          (carbon_common.settings puts it into the URL, URL-quoted).
external: the whole URL is the file carbon_redis_url.
*/}}
{{- define "carbon.redisEnv" -}}
{{- if eq .Values.redis.mode "internal" }}
- name: CARBON_REDIS_URL
  value: {{ printf "redis://%s:%d/%d" (include "carbon.redis.fullname" .) (int .Values.redis.internal.port) (int .Values.redis.internal.database) | quote }}
{{- end }}
{{- end -}}

{{/*
Projected volume of every Secret a service reads, one file per setting named after its
variable in lower case (service HMAC key, Redis password or URL, the service's secretEnv).
Usage: dict "root" $ "svc" <service values>
*/}}
{{- define "carbon.secretsVolume" -}}
{{- $root := .root -}}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ include "carbon.serviceSecretName" $root }}
          items:
            - key: {{ $root.Values.serviceSecret.existingSecretKey }}
              path: carbon_service_secret
      {{- if eq $root.Values.redis.mode "internal" }}
      - secret:
          name: {{ include "carbon.redis.passwordSecretName" $root }}
          items:
            - key: {{ $root.Values.redis.internal.auth.existingSecretPasswordKey }}
              path: carbon_redis_password
      {{- else }}
      - secret:
          name: {{ required "redis.external.existingSecret is required when redis.mode=external" $root.Values.redis.external.existingSecret }}
          items:
            - key: {{ $root.Values.redis.external.existingSecretUrlKey }}
              path: carbon_redis_url
      {{- end }}
      {{- range .svc.secretEnv }}
      - secret:
          name: {{ .secretName }}
          {{- if .optional }}
          optional: true
          {{- end }}
          items:
            - key: {{ .key }}
              path: {{ lower .name }}
      {{- end }}
{{- end -}}

{{/* OpenTelemetry env vars (only when telemetry.otlpEndpoint is set). Usage: dict "root" $ "serviceName" "consent" */}}
{{- define "carbon.otelEnv" -}}
{{- $t := .root.Values.telemetry -}}
{{- if $t.otlpEndpoint }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $t.otlpEndpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $t.otlpProtocol | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .serviceName | quote }}
{{- $attrs := list "service.namespace=carbon-platform" (printf "service.version=%s" .root.Chart.AppVersion) (printf "deployment.environment=%s" $t.environment) "k8s.namespace.name=$(K8S_NAMESPACE_NAME)" "k8s.pod.name=$(K8S_POD_NAME)" "k8s.node.name=$(K8S_NODE_NAME)" -}}
{{- range $k, $v := $t.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k (toString $v)) -}}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- end }}
{{- end -}}

{{/*
topologySpreadConstraints of a component: the service's own list if not empty,
else the chart defaults (zone + hostname) when topologySpread.enabled.
Usage: dict "root" $ "component" "consent" "custom" $svc.topologySpreadConstraints
*/}}
{{- define "carbon.topologySpread" -}}
{{- $ts := .root.Values.topologySpread -}}
{{- if .custom }}
topologySpreadConstraints:
  {{- toYaml .custom | nindent 2 }}
{{- else if $ts.enabled }}
topologySpreadConstraints:
  {{- range $c := list (dict "key" "topology.kubernetes.io/zone" "cfg" $ts.zone) (dict "key" "kubernetes.io/hostname" "cfg" $ts.hostname) }}
  - topologyKey: {{ $c.key }}
    maxSkew: {{ $c.cfg.maxSkew }}
    whenUnsatisfiable: {{ $c.cfg.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "carbon.selectorLabels" (dict "root" $.root "component" $.component) | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
  {{- end }}
{{- end }}
{{- end -}}

{{/* Container securityContext hardened defaults (values.containerSecurityContext). */}}
{{- define "carbon.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/*
Cross-field checks the JSON schema cannot express readably.
Rendered (as nothing) from deployment.yaml so that `helm template` fails early.
*/}}
{{- define "carbon.validateValues" -}}
{{- $msgs := list -}}
{{- range $key := include "carbon.serviceKeys" . | fromYamlArray -}}
{{- $svc := index $.Values $key -}}
{{- if and $svc.autoscaling.enabled (lt (int $svc.autoscaling.maxReplicas) (int $svc.autoscaling.minReplicas)) -}}
{{- $msgs = append $msgs (printf "%s.autoscaling.maxReplicas (%v) must be >= %s.autoscaling.minReplicas (%v)" $key $svc.autoscaling.maxReplicas $key $svc.autoscaling.minReplicas) -}}
{{- end -}}
{{- if and $svc.pdb.create (ne (toString $svc.pdb.minAvailable) "") (ne (toString $svc.pdb.maxUnavailable) "") -}}
{{- $msgs = append $msgs (printf "%s.pdb: set only one of minAvailable / maxUnavailable" $key) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.data.mode "objectStorage") (not .Values.data.objectStorage.url) -}}
{{- $msgs = append $msgs "data.objectStorage.url is required when data.mode=objectStorage" -}}
{{- end -}}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled (not .Values.ingress.tls.secretName) -}}
{{- $msgs = append $msgs "ingress.tls.secretName is required when ingress.tls.enabled=true" -}}
{{- end -}}
{{- if $msgs -}}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s" (join "\n  - " $msgs)) -}}
{{- end -}}
{{- end -}}

{{/*
Files of the pricing policy bundle shipped in the ConfigMap: files/policies/
.manifest, *.rego (not *_test.rego) and *.json, as a list of chart paths.
*/}}
{{- define "carbon.policyFiles" -}}
{{- $files := list -}}
{{- range $path, $_ := .Files.Glob "files/policies/**" -}}
{{- $base := base $path -}}
{{- if or (eq $base ".manifest") (eq $base "manifest.json") (and (hasSuffix ".rego" $base) (not (hasSuffix "_test.rego" $base))) (hasSuffix ".json" $base) -}}
{{- $files = append $files $path -}}
{{- end -}}
{{- end -}}
{{- toYaml $files -}}
{{- end -}}

{{/* ConfigMap key of a bundle file: path below files/policies/ with "/" -> "--". */}}
{{- define "carbon.policyKey" -}}
{{- trimPrefix "files/policies/" . | replace "/" "--" -}}
{{- end -}}

{{/*
OPA sidecar of loan-pricing. It starts empty, listens on 127.0.0.1 only; the
service pushes its bundle over the REST API (PUT /v1/policies, /v1/data).
/health is served on the diagnostic port for the kubelet probes.
native=true renders it as a native sidecar (init container with
restartPolicy: Always, Kubernetes >= 1.29): it is started, and its startup
probe passed, before the service container starts.
Usage: include "carbon.opaContainer" (dict "root" $ "native" true)
*/}}
{{- define "carbon.opaContainer" -}}
{{- $opa := .root.Values.pricing.opa -}}
- name: opa
  image: {{ include "carbon.image" (dict "image" $opa.image "root" .root) }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  {{- if .native }}
  restartPolicy: Always
  {{- end }}
  args:
    - run
    - --server
    - --addr=127.0.0.1:{{ $opa.port }}
    - --diagnostic-addr=0.0.0.0:{{ $opa.diagnosticPort }}
    - --log-level={{ $opa.logLevel }}
    - --log-format=json
    - --skip-version-check
  ports:
    - name: opa-diag
      containerPort: {{ $opa.diagnosticPort }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /health
      port: opa-diag
    periodSeconds: 2
    failureThreshold: 30
  livenessProbe:
    httpGet:
      path: /health
      port: opa-diag
    periodSeconds: 10
    timeoutSeconds: 3
    failureThreshold: 3
  # Ready only once OPA's plugins report OK (/health?plugins); alive while the
  # server answers at all (/health): a plugin hiccup takes the pod out of
  # rotation instead of restarting it.
  readinessProbe:
    httpGet:
      path: /health?plugins
      port: opa-diag
    periodSeconds: 5
    timeoutSeconds: 3
    failureThreshold: 3
  resources:
    {{- toYaml $opa.resources | nindent 4 }}
  securityContext:
    {{- include "carbon.containerSecurityContext" .root | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end -}}
