{{/*
Names are fixed, as in the Kustomize package: the DecoratorController is cluster-scoped, so a
cluster runs one installation, and its hooks name the Service.
*/}}
{{- define "kes.name" -}}kube-external-sync{{- end }}
{{- define "kes.configMapName" -}}kube-external-sync-config{{- end }}

{{/* On every object's metadata (the Kustomize package's `labels`), plus commonLabels. */}}
{{- define "kes.labels" -}}
app.kubernetes.io/name: kube-external-sync
app.kubernetes.io/part-of: kube-external-sync
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pods' identity: selectors of the Deployment, Service, PDB and NetworkPolicy. Never changes
(a Deployment's selector is immutable). */}}
{{- define "kes.selectorLabels" -}}
app.kubernetes.io/name: kube-external-sync
app.kubernetes.io/component: hooks
{{- end }}

{{- define "kes.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}
