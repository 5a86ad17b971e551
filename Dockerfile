# One image recipe for every host. The host is chosen at build time:
#   docker build -t freshet/freshet:dev .                                          (control plane, the default)
#   docker build --build-arg HOST=Freshet.DataPlane.Worker -t freshet/worker:dev .  (data-plane worker)
#   docker build --build-arg HOST=Freshet.Console --build-arg HOST_DIR=web -t freshet/console:dev .  (web console)
# HOST names both the folder under HOST_DIR (src/, or web/ for the console) and its csproj:
# ${HOST_DIR}/${HOST}/${HOST}.csproj, published as ${HOST}.dll (so a host project keeps its default AssemblyName).
# The worker serves no HTTP; the port settings are unused there.
ARG HOST=Freshet.ControlPlane.Host
ARG HOST_DIR=src

# Stage 1: only the files that decide a restore, at their own paths. This stage reruns whenever src/
# changes, but its output changes only with a project file, so the restore layer below stays cached.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS projects
WORKDIR /repo
COPY src/ src/
COPY web/ web/
RUN mkdir -p /projects/src /projects/web \
 && find src web -type f \( -name '*.csproj' -o -name 'Directory.Build.props' -o -name 'Directory.Build.targets' \
        -o -name 'Directory.Packages.props' -o -name 'packages.lock.json' \) \
        -exec sh -c 'for f; do mkdir -p "/projects/$(dirname "$f")" && cp "$f" "/projects/$f"; done' sh {} +

# Stage 2: restore, then build and publish the chosen host.
# Published ReadyToRun (precompiled, framework-dependent) for the platform being built: a worker that starts after a
# crash or a failover reached its first destination commit in 0.93 s instead of 1.5-2.0 s when measured with
# bench/run mysql-stream (BENCH_WORKER_DLL_OVERRIDE). TARGETARCH is set by BuildKit (amd64 or arm64); the runtime
# identifier must be known at restore too, so that the crossgen package for it is fetched there.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG HOST
ARG HOST_DIR
ARG TARGETARCH=amd64
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
WORKDIR /repo
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY --from=projects /projects/ ./
RUN RID="linux-$(echo "$TARGETARCH" | sed 's/^amd64$/x64/')" \
 && echo "$RID" > /tmp/rid \
 && dotnet restore "${HOST_DIR}/${HOST}/${HOST}.csproj" --runtime "$RID" -p:PublishReadyToRun=true
# .editorconfig takes part in the build (EnforceCodeStyleInBuild + TreatWarningsAsErrors), as in CI.
COPY .editorconfig ./
COPY src/ src/
COPY web/ web/
RUN dotnet publish "${HOST_DIR}/${HOST}/${HOST}.csproj" --configuration Release --no-restore \
        --runtime "$(cat /tmp/rid)" --self-contained false -p:PublishReadyToRun=true \
        --output /app -p:UseAppHost=false \
 && test -f "/app/${HOST}.dll"

# Stage 3: runtime only, as the image's non-root user 'app' (UID 1654).
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
ARG HOST
LABEL org.opencontainers.image.title="${HOST}" \
      org.opencontainers.image.description="Freshet change-data-capture service: ${HOST}"
ENV FRESHET_HOST=${HOST} \
    ASPNETCORE_HTTP_PORTS=8080
WORKDIR /app
# Owned by root and not writable by 'app': the process cannot alter its own binaries.
COPY --from=build /app ./
USER $APP_UID
EXPOSE 8080
# The shell only picks the dll and is replaced by dotnet (exec), which then receives SIGTERM directly.
# Arguments after the image name pass through, e.g. `docker run freshet/freshet migrate`.
ENTRYPOINT ["/bin/sh", "-c", "exec dotnet \"/app/${FRESHET_HOST}.dll\" \"$@\"", "--"]
