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

{{- define "freshet.worker.fullname" -}}
{{- printf "%s-worker" (include "freshet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "freshet.console.fullname" -}}
{{- printf "%s-console" (include "freshet.fullname" .) | trunc 63 | trimSuffix "-" }}
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

{{- define "freshet.console.selectorLabels" -}}
{{ include "freshet.selectorLabels" . }}
app.kubernetes.io/component: console
{{- end }}

{{- define "freshet.worker.selectorLabels" -}}
{{ include "freshet.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{- define "freshet.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The data-plane worker's image (Dockerfile with --build-arg HOST=Freshet.DataPlane.Worker); its tag defaults to
the control plane's.
*/}}
{{- define "freshet.worker.image" -}}
{{- printf "%s:%s" .Values.worker.image.repository (.Values.worker.image.tag | default .Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Freshet__Roles, checked against the roles the host knows. Accepts a list or a comma-separated string.
The host's "worker" role (a worker embedded in the control-plane process) is refused: it is for the local
one-process setup (infra/run.sh); here workers are their own Deployment (worker.*).
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
{{- fail "controlPlane.roles: \"worker\" (the embedded worker) is for local runs only; data-plane workers are their own Deployment here (worker.*)." }}
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
{{- if .Values.console.enabled }}
{{- $console := include "freshet.console.publicUrl" . }}
Freshet__Auth__ConsoleClient__ClientId: {{ required "console.clientId is required" .Values.console.clientId | quote }}
Freshet__Auth__ConsoleClient__RedirectUris__0: {{ printf "%s/signin-oidc" $console | quote }}
Freshet__Auth__ConsoleClient__PostLogoutRedirectUris__0: {{ printf "%s/signout-callback-oidc" $console | quote }}
{{- end }}
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
{{- include "freshet.workerClientSecretEnv" (dict "name" "Freshet__Auth__WorkerClient__ClientSecret" "root" .) }}
{{- include "freshet.consoleClientSecretEnv" (dict "name" "Freshet__Auth__ConsoleClient__ClientSecret" "root" .) }}
{{- if .Values.workerClient.existingSecret }}
- name: Freshet__Auth__WorkerClient__ClientId
  value: {{ required "workerClient.clientId is required" .Values.workerClient.clientId | quote }}
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

{{/*
The worker pool's client secret as the environment variable "name" (the control plane's
Freshet__Auth__WorkerClient__ClientSecret, the workers' Freshet__Worker__ControlPlane__ClientSecret), from
workerClient.existingSecret; nothing when that is empty (then migrate removes the client and /v1/worker/* refuses
everyone). Called with (dict "name" NAME "root" $).
*/}}
{{- define "freshet.workerClientSecretEnv" -}}
{{- with .root.Values.workerClient }}
{{- if .existingSecret }}
- name: {{ $.name }}
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ required "workerClient.key is required" .key }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Freshet__Messaging__*: the bus of the scheduler's assignment hints, for the control plane and the workers alike.
*/}}
{{- define "freshet.messagingEnv" -}}
{{- with .Values.messaging }}
{{- if .transport }}
{{- if ne .transport "rabbitmq" }}
{{- fail (printf "messaging.transport: %q is not a transport the hosts know (rabbitmq, or \"\" for none)" .transport) }}
{{- end }}
- name: Freshet__Messaging__Transport
  value: "rabbitmq"
- name: Freshet__Messaging__RabbitMq__Host
  value: {{ required "messaging.rabbitMq.host is required with messaging.transport rabbitmq" .rabbitMq.host | quote }}
- name: Freshet__Messaging__RabbitMq__Port
  value: {{ .rabbitMq.port | default 5672 | toString | quote }}
- name: Freshet__Messaging__RabbitMq__VirtualHost
  value: {{ .rabbitMq.virtualHost | default "/" | quote }}
{{- if .rabbitMq.username }}
- name: Freshet__Messaging__RabbitMq__Username
  value: {{ .rabbitMq.username | quote }}
{{- end }}
{{- if .rabbitMq.existingSecret }}
- name: Freshet__Messaging__RabbitMq__Password
  valueFrom:
    secretKeyRef:
      name: {{ .rabbitMq.existingSecret }}
      key: {{ required "messaging.rabbitMq.passwordKey is required" .rabbitMq.passwordKey }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Freshet__Worker__DrainTimeout as a TimeSpan (hh:mm:ss) from worker.drainTimeoutSeconds, after checking that the
pods' grace period leaves the worker its drain plus the 15 s its host adds to stop what remains.
*/}}
{{- define "freshet.worker.drainTimeout" -}}
{{- $drain := int .Values.worker.drainTimeoutSeconds }}
{{- $grace := int .Values.worker.terminationGracePeriodSeconds }}
{{- if or (lt $drain 1) (gt $drain 86399) }}
{{- fail (printf "worker.drainTimeoutSeconds must be from 1 to 86399; it is %d" $drain) }}
{{- end }}
{{- if le $grace (add $drain 15) }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d) must exceed worker.drainTimeoutSeconds + 15 (%d): Kubernetes would kill a draining worker before it has handed its pipelines back" $grace (add $drain 15)) }}
{{- end }}
{{- printf "%02d:%02d:%02d" (div $drain 3600) (mod (div $drain 60) 60) (mod $drain 60) }}
{{- end }}

{{/*
The Secret holding the Prometheus scrape token; fails the render when something that scrapes /metrics is enabled
without one, since /metrics answers 404 to everyone while no token is set.
*/}}
{{- define "freshet.metrics.scrapeTokenSecret" -}}
{{- required "metrics.scrapeToken.existingSecret must name the Secret holding the scrape token when metrics.serviceMonitor.enabled or metrics.scrapeAnnotations is set: without a token /metrics answers 404" .Values.metrics.scrapeToken.existingSecret }}
{{- end }}

{{/*
Freshet__Metrics__ScrapeToken from metrics.scrapeToken.existingSecret, for the control plane only (the migration Job
and the workers serve no /metrics); nothing when no Secret is named.
*/}}
{{- define "freshet.metricsEnv" -}}
{{- with .Values.metrics.scrapeToken }}
{{- if .existingSecret }}
- name: Freshet__Metrics__ScrapeToken
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ required "metrics.scrapeToken.key is required" .key }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The web console's image (Dockerfile with --build-arg HOST=Freshet.Console --build-arg HOST_DIR=web); its tag defaults
to the control plane's.
*/}}
{{- define "freshet.console.image" -}}
{{- printf "%s:%s" .Values.console.image.repository (.Values.console.image.tag | default .Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The console's public address, without a trailing slash: where browsers open it, and the base of the redirect URIs the
control plane registers for it (migrate, from Freshet__Auth__ConsoleClient__*).
*/}}
{{- define "freshet.console.publicUrl" -}}
{{- $url := required "console.publicUrl is required when console.enabled: the console's address as browsers open it, e.g. https://console.example.com" .Values.console.publicUrl }}
{{- if not (regexMatch "^https?://[^/]+(/.*)?$" $url) }}
{{- fail (printf "console.publicUrl must be an absolute http(s) URL, e.g. https://console.example.com; it is %q" $url) }}
{{- end }}
{{- trimSuffix "/" $url }}
{{- end }}

{{/*
The console's OAuth2 client secret as the environment variable "name" (the console's Freshet__Console__ClientSecret,
the control plane's Freshet__Auth__ConsoleClient__ClientSecret), from console.clientSecret.existingSecret; nothing when
that is empty (a public client: authorization code with PKCE only). Called with (dict "name" NAME "root" $).
*/}}
{{- define "freshet.consoleClientSecretEnv" -}}
{{- $root := .root }}
{{- if and $root.Values.console.enabled $root.Values.console.clientSecret.existingSecret }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.console.clientSecret.existingSecret }}
      key: {{ required "console.clientSecret.key is required" $root.Values.console.clientSecret.key }}
{{- end }}
{{- end }}
