{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names and label values.
*/}}
{{- define "freshet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, prefixed with the chart name unless it already contains it.
*/}}
{{- define "freshet.fullname" -}}
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

{{- define "freshet.controlPlane.fullname" -}}
{{- printf "%s-controlplane" (include "freshet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "freshet.migration.fullname" -}}
{{- printf "%s-migrate" (include "freshet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "freshet.config.fullname" -}}
{{- printf "%s-config" (include "freshet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "freshet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "freshet.labels" -}}
helm.sh/chart: {{ include "freshet.chart" . }}
{{ include "freshet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "freshet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "freshet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "freshet.controlPlane.selectorLabels" -}}
{{ include "freshet.selectorLabels" . }}
app.kubernetes.io/component: controlplane
{{- end }}

{{- define "freshet.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Freshet__Roles, checked against the roles the host knows. Accepts a list or a comma-separated string.
The host's "worker" role (an embedded worker that runs every pipeline) is refused: it is for the local
one-process setup, and every replica would run every pipeline.
*/}}
{{- define "freshet.roles" -}}
{{- $known := list "api" "scheduler" "status" }}
{{- $roles := .Values.controlPlane.roles }}
{{- if kindIs "string" $roles }}
{{- $roles = splitList "," $roles }}
{{- end }}
{{- if not $roles }}
{{- fail "controlPlane.roles must name at least one of: api, scheduler, status" }}
{{- end }}
{{- $clean := list }}
{{- range $roles }}
{{- $role := trim (toString .) }}
{{- if eq $role "worker" }}
{{- fail "controlPlane.roles: \"worker\" (the embedded worker) is for local runs only: every control-plane replica would run every pipeline. Data-plane workers get their own Deployment with the scheduler." }}
{{- end }}
{{- if not (has $role $known) }}
{{- fail (printf "controlPlane.roles: unknown role %q (known: api, scheduler, status)" $role) }}
{{- end }}
{{- $clean = append $clean $role }}
{{- end }}
{{- join "," $clean }}
{{- end }}

{{/*
Non-secret settings as name: value lines. Rendered into the ConfigMap, and inline into the
migration Job (a pre-install hook runs before the ConfigMap exists).
*/}}
{{- define "freshet.configData" -}}
Freshet__Roles: {{ include "freshet.roles" . | quote }}
Logging__LogLevel__Default: {{ .Values.logging.level | quote }}
Logging__LogLevel__Microsoft.AspNetCore: {{ .Values.logging.aspNetCoreLevel | quote }}
{{- range $name, $value := .Values.config }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/*
Environment shared by the control plane and the migration Job: the application connection string,
the master key and the auth certificates, all from existing Secrets.
*/}}
{{- define "freshet.secretEnv" -}}
- name: ConnectionStrings__Control
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret must name an existing Secret" .Values.database.existingSecret }}
      key: {{ required "database.controlKey is required" .Values.database.controlKey }}
- name: Freshet__Secrets__MasterKey
  valueFrom:
    secretKeyRef:
      name: {{ required "masterKey.existingSecret must name an existing Secret" .Values.masterKey.existingSecret }}
      key: {{ required "masterKey.key is required" .Values.masterKey.key }}
{{- if .Values.auth.existingSecret }}
- name: Freshet__Auth__SigningCertificatePath
  value: {{ printf "%s/signing.pfx" (trimSuffix "/" .Values.auth.mountPath) | quote }}
- name: Freshet__Auth__EncryptionCertificatePath
  value: {{ printf "%s/encryption.pfx" (trimSuffix "/" .Values.auth.mountPath) | quote }}
{{- if .Values.auth.passwordKey }}
- name: Freshet__Auth__CertificatePassword
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.passwordKey }}
{{- end }}
{{- end }}
{{- /*
With a read-only root filesystem, $HOME (/home/app) is not writable; anything the runtime keeps
under $HOME (e.g. ASP.NET Core Data Protection's default key folder) goes to the /tmp emptyDir.
*/}}
- name: HOME
  value: /tmp
{{- end }}

{{- define "freshet.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.auth.existingSecret }}
- name: auth-certificates
  mountPath: {{ .Values.auth.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "freshet.volumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.auth.existingSecret }}
- name: auth-certificates
  secret:
    secretName: {{ .Values.auth.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ required "auth.signingCertificateKey is required" .Values.auth.signingCertificateKey }}
        path: signing.pfx
      - key: {{ required "auth.encryptionCertificateKey is required" .Values.auth.encryptionCertificateKey }}
        path: encryption.pfx
{{- end }}
{{- end }}
