{{/* Common names and labels. */}}
{{- define "landmark.fullname" -}}
{{- printf "%s-landmark" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "landmark.labels" -}}
app.kubernetes.io/part-of: landmark
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "landmark.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .name }}
{{- end -}}

{{/* Secret holding credentials: the chart's own unless an existingSecret is named. */}}
{{- define "landmark.secretName" -}}
{{- include "landmark.fullname" . -}}
{{- end -}}

{{- define "landmark.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .gpu }}{{ $tag = printf "%s%s" $tag .root.Values.image.gpuTagSuffix }}{{ end -}}
{{- printf "%s/%s-%s:%s" .root.Values.image.registry .root.Values.image.repositoryPrefix .name $tag -}}
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
{{- end -}}
