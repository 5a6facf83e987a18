{{/* Chart name, overridable (nameOverride). */}}
{{- define "landmark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: fullnameOverride, else <release>-<name>, else just <release> when the release name already holds the
chart name (release "landmark" gives "landmark-embedder", not "landmark-landmark-embedder"). 50 characters at most:
service suffixes such as "-preprocess" must still fit into 63. */}}
{{- define "landmark.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "landmark.labels" -}}
app.kubernetes.io/part-of: landmark
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "landmark.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
{{- end -}}

{{/* Secret holding credentials: the chart's own unless an existingSecret is named. */}}
{{- define "landmark.secretName" -}}
{{- include "landmark.fullname" . -}}
{{- end -}}

{{- define "landmark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "landmark.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "landmark.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .gpu }}{{ $tag = printf "%s%s" $tag .root.Values.image.gpuTagSuffix }}{{ end -}}
{{- printf "%s/%s-%s:%s" .root.Values.image.registry .root.Values.image.repositoryPrefix .name $tag -}}
{{- end -}}

{{/* Resource name of a GPU request: gpu.resourceName of the workload, else gpuNodePool.resourceName (nvidia.com/gpu,
or a MIG / time-slicing name such as nvidia.com/mig-1g.10gb or nvidia.com/gpu.shared). */}}
{{- define "landmark.gpuResourceName" -}}
{{- default .root.Values.gpuNodePool.resourceName .gpu.resourceName -}}
{{- end -}}

{{/* Install-time checks: a release that cannot start fails at helm install/upgrade, not in every pod's start-up. */}}
{{- define "landmark.validate" -}}
{{- if and .Values.auth.required (not .Values.auth.existingSecret) -}}
{{- if not .Values.auth.apiKeys -}}
{{- fail "auth.required is true but no API key is set: set auth.apiKeys[0] (16+ characters) or auth.existingSecret (a Secret with api-key-0 and internal-key-0), or set auth.required=false for a closed development cluster" -}}
{{- end -}}
{{- if not .Values.auth.internalKeys -}}
{{- fail "auth.required is true but no internal key is set: set auth.internalKeys[0] (16+ characters, e.g. openssl rand -base64 32) or auth.existingSecret (with internal-key-0)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tls.requireClientCertificate (not .Values.tls.enabled) -}}
{{- fail "tls.requireClientCertificate needs tls.enabled=true (and a Secret with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if and .Values.tls.requireClientCertificate (not .Values.tls.useSecretCa) -}}
{{- fail "tls.requireClientCertificate needs tls.useSecretCa=true: client certificates are verified against the Secret's ca.crt" -}}
{{- end -}}
{{- if and .Values.tls.enabled .Values.tls.certificate.create (not .Values.tls.certificate.issuerRef.name) -}}
{{- fail "tls.certificate.create needs tls.certificate.issuerRef.name (a cert-manager Issuer or ClusterIssuer)" -}}
{{- end -}}
{{- if and .Values.tls.requireClientCertificate (include "landmark.httpRouted" .) -}}
{{- fail "tls.requireClientCertificate: the JSON/HTTP API is served on the cleartext HTTP port, which mTLS does not cover; set ingress.http.enabled=false and gateway.http.enabled=false (gRPC stays routed)" -}}
{{- end -}}
{{- if and .Values.s3.caSecretName (not .Values.s3.useSsl) -}}
{{- fail "s3.caSecretName needs s3.useSsl=true" -}}
{{- end -}}
{{- range $name, $svc := .Values.services -}}
{{- if and $svc.enabled $svc.pdb.enabled (hasKey $svc.pdb "minAvailable") -}}
{{- $min := include "landmark.minReplicas" (dict "root" $ "name" $name "svc" $svc) | int -}}
{{- if and (not (kindIs "string" $svc.pdb.minAvailable)) (le $min (int $svc.pdb.minAvailable)) -}}
{{- fail (printf "services.%s.pdb.minAvailable=%v with at least %d replica(s) would block every node drain: use pdb.maxUnavailable" $name $svc.pdb.minAvailable $min) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Non-empty when an Ingress or HTTPRoute sends the JSON/HTTP API to the services' HTTP port. */}}
{{- define "landmark.httpRouted" -}}
{{- if or (and .Values.ingress.enabled .Values.ingress.http.enabled) (and .Values.gateway.enabled .Values.gateway.http.enabled) -}}true{{- end -}}
{{- end -}}

{{/* Fewest replicas a service can run with (HPA/KEDA minimum, else replicas; the embedded index forces one). */}}
{{- define "landmark.minReplicas" -}}
{{- if and (eq .name "retrieval") (eq .root.Values.index.provider "Embedded") -}}1
{{- else if .svc.hpa.enabled -}}{{ .svc.hpa.minReplicas }}
{{- else if and .svc.keda.enabled .svc.queue -}}{{ .svc.keda.minReplicas }}
{{- else -}}{{ .svc.replicas }}
{{- end -}}
{{- end -}}

{{- define "landmark.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "landmark.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Pod annotations that roll pods when the configuration or a credential changes (secret rotation). */}}
{{- define "landmark.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/* The pod's own identity for OpenTelemetry resource attributes (downward API): k8s.pod.name, k8s.node.name,
k8s.namespace.name, service.version and deployment.environment. */}}
{{- define "landmark.downwardEnv" -}}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.version=%s,deployment.environment=%s,k8s.pod.name=$(K8S_POD_NAME),k8s.node.name=$(K8S_NODE_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME)" (default .Chart.AppVersion .Values.image.tag) .Values.config.environment | quote }}
{{- end -}}

{{/* Environment shared by every service container: config from the ConfigMap, credentials from Secrets. */}}
{{- define "landmark.env" -}}
{{- $root := . -}}
- name: Landmark__Messaging__RabbitMq__Username
  valueFrom:
    secretKeyRef:
      name: {{ default (include "landmark.secretName" $root) $root.Values.rabbitmq.existingSecret }}
      key: rabbitmq-username
- name: Landmark__Messaging__RabbitMq__Password
  valueFrom:
    secretKeyRef:
      name: {{ default (include "landmark.secretName" $root) $root.Values.rabbitmq.existingSecret }}
      key: rabbitmq-password
- name: Landmark__Storage__S3__AccessKey
  valueFrom:
    secretKeyRef:
      name: {{ default (include "landmark.secretName" $root) $root.Values.s3.existingSecret }}
      key: s3-access-key
- name: Landmark__Storage__S3__SecretKey
  valueFrom:
    secretKeyRef:
      name: {{ default (include "landmark.secretName" $root) $root.Values.s3.existingSecret }}
      key: s3-secret-key
- name: Landmark__Index__Qdrant__ApiKey
  valueFrom:
    secretKeyRef:
      name: {{ default (include "landmark.secretName" $root) $root.Values.index.qdrant.existingSecret }}
      key: qdrant-api-key
      optional: true
{{- range $i, $_ := (default (list "") $root.Values.auth.apiKeys) }}
- name: Landmark__Auth__ApiKeys__{{ $i }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "landmark.secretName" $root) $root.Values.auth.existingSecret }}
      key: api-key-{{ $i }}
      optional: true
{{- end }}
{{- range $i, $_ := (default (list "") $root.Values.auth.internalKeys) }}
- name: Landmark__Auth__InternalKeys__{{ $i }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "landmark.secretName" $root) $root.Values.auth.existingSecret }}
      key: internal-key-{{ $i }}
      optional: true
{{- end }}
{{ include "landmark.downwardEnv" $root }}
{{- end -}}

{{/* Where the services find their dependencies: the in-release development ones when deployed, else the values. */}}
{{- define "landmark.rabbitmqHost" -}}
{{- if .Values.rabbitmq.deploy }}{{ include "landmark.fullname" . }}-rabbitmq{{ else }}{{ .Values.rabbitmq.host }}{{ end -}}
{{- end -}}

{{- define "landmark.s3Endpoint" -}}
{{- if .Values.s3.deploy }}{{ include "landmark.fullname" . }}-minio:9000{{ else }}{{ .Values.s3.endpoint }}{{ end -}}
{{- end -}}

{{- define "landmark.qdrantUrl" -}}
{{- if .Values.index.qdrant.deploy }}http://{{ include "landmark.fullname" . }}-qdrant:6334{{ else }}{{ .Values.index.qdrant.url }}{{ end -}}
{{- end -}}

{{/* The Secret holding the gRPC ports' certificate (tls.crt, tls.key, ca.crt). */}}
{{- define "landmark.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "landmark.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/* Volume mounts of the TLS material: the gRPC certificate, the broker's and the S3 server's CA. */}}
{{- define "landmark.tlsVolumeMounts" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/landmark/tls
  readOnly: true
{{- end }}
{{- if and .Values.rabbitmq.tls.enabled .Values.rabbitmq.tls.caSecretName }}
- name: rabbitmq-ca
  mountPath: /etc/landmark/rabbitmq-ca
  readOnly: true
{{- end }}
{{- if .Values.s3.caSecretName }}
- name: s3-ca
  mountPath: /etc/landmark/s3-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes of the TLS material (whole Secrets, not subPath mounts, so that renewals reach the files). */}}
{{- define "landmark.tlsVolumes" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "landmark.tlsSecretName" . }}
{{- end }}
{{- if and .Values.rabbitmq.tls.enabled .Values.rabbitmq.tls.caSecretName }}
- name: rabbitmq-ca
  secret:
    secretName: {{ .Values.rabbitmq.tls.caSecretName }}
    items: [{key: ca.crt, path: ca.crt}]
{{- end }}
{{- if .Values.s3.caSecretName }}
- name: s3-ca
  secret:
    secretName: {{ .Values.s3.caSecretName }}
    items: [{key: ca.crt, path: ca.crt}]
{{- end }}
{{- end -}}
