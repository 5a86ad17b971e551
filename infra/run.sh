#!/usr/bin/env bash
# Runs Freshet locally: a PostgreSQL control database under the data folder, the control plane (all roles,
# embedded worker) on loopback, the web console beside it, demo data and credentials, and the demo pipeline streaming a demo shop database
# (with live traffic) into a DuckDB file. With FRESHET_WORKERS=N (N > 0), also a private RabbitMQ node and N
# standalone data-plane worker processes beside the embedded one. Ctrl-C stops everything it started.
#
#   ./infra/run.sh
#
# Environment (all optional):
#   FRESHET_API_PORT   API port on 127.0.0.1                       (default 5080)
#   FRESHET_CONSOLE_PORT  web console port on 127.0.0.1            (default 5081)
#   FRESHET_PG_PORT    control database port on 127.0.0.1          (default 5433)
#   FRESHET_DATA_DIR   cluster, secrets, logs, dev credentials     (default <repo>/.data)
#   FRESHET_KEEP_PG=1  leave PostgreSQL running when the script ends
#   FRESHET_FOLLOW_LOG=0  do not stream the server log to the terminal after the banner
#   FRESHET_SKIP_BUILD=1  run the last build instead of building again
#   FRESHET_DEMO_TRAFFIC=0  no live changes in the demo shop database (default: a few rows a second)
#   FRESHET_WORKERS=N  also start N standalone workers (and a RabbitMQ node for their hints)  (default 0)
#
# Files in $FRESHET_DATA_DIR: pg/ (cluster), pg-socket/, secrets.env (mode 600: superuser, app role, demo
# source, master key and worker client secrets, generated on first run and reused), dev-credentials.json
# (written by seed-demo), duckdb/<tenant id>/demo.duckdb (the demo pipeline's destination), rabbitmq/ (the
# RabbitMQ node, FRESHET_WORKERS > 0 only), logs/postgresql.log, logs/controlplane.log, logs/console.log, logs/demo-traffic.log,
# logs/rabbitmq.log and logs/worker-<i>.log (FRESHET_WORKERS > 0 only).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

API_PORT="${FRESHET_API_PORT:-5080}"
CONSOLE_PORT="${FRESHET_CONSOLE_PORT:-5081}"
PG_PORT="${FRESHET_PG_PORT:-5433}"
# Absolute now: the script changes folder later.
DATA_DIR="$(realpath -m -- "${FRESHET_DATA_DIR:-$REPO_ROOT/.data}")"
KEEP_PG="${FRESHET_KEEP_PG:-0}"
FOLLOW_LOG="${FRESHET_FOLLOW_LOG:-1}"
SKIP_BUILD="${FRESHET_SKIP_BUILD:-0}"
DEMO_TRAFFIC="${FRESHET_DEMO_TRAFFIC:-1}"
WORKERS="${FRESHET_WORKERS:-0}"
[[ "$WORKERS" =~ ^[0-9]+$ ]] && ((WORKERS <= 32)) || freshet_die "FRESHET_WORKERS must be a number from 0 to 32; it is '$WORKERS'"

for port in "$API_PORT" "$PG_PORT" "$CONSOLE_PORT"; do
    if [[ ! "$port" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
        freshet_die "invalid port '$port'"
    fi
done
[[ "$API_PORT" != "$PG_PORT" ]] || freshet_die "FRESHET_API_PORT and FRESHET_PG_PORT must differ"
[[ "$CONSOLE_PORT" != "$API_PORT" && "$CONSOLE_PORT" != "$PG_PORT" ]] \
    || freshet_die "FRESHET_CONSOLE_PORT must differ from FRESHET_API_PORT and FRESHET_PG_PORT"

HOST_PROJECT="$REPO_ROOT/src/Freshet.ControlPlane.Host"
HOST_DLL="$HOST_PROJECT/bin/Release/net10.0/Freshet.ControlPlane.Host.dll"
# The standalone worker: its `duckdb-query` verb, for the banner's look at the demo rows, and with
# FRESHET_WORKERS > 0 its `run` verb (workers that register with the control plane over HTTP).
WORKER_PROJECT="$REPO_ROOT/src/Freshet.DataPlane.Worker"
WORKER_DLL="$WORKER_PROJECT/bin/Release/net10.0/Freshet.DataPlane.Worker.dll"
API_URL="http://127.0.0.1:$API_PORT"
# The web console (web/Freshet.Console): signs people in through the control plane's OAuth2 server.
CONSOLE_PROJECT="$REPO_ROOT/web/Freshet.Console"
CONSOLE_DLL="$CONSOLE_PROJECT/bin/Release/net10.0/Freshet.Console.dll"
CONSOLE_URL="http://127.0.0.1:$CONSOLE_PORT"

# --- 1. Tools --------------------------------------------------------------------------------------
# postgresql: the control database; curl: readiness probe; jq: reads dev-credentials.json for the banner;
# rabbitmq-server: assignment hints between the control plane and standalone workers (FRESHET_WORKERS > 0).
if ((WORKERS > 0)); then
    freshet_ensure_packages postgresql curl jq rabbitmq-server
else
    freshet_ensure_packages postgresql curl jq
fi
PG_BIN="$(freshet_pg_bin)" # fails clearly if the installed server is older than 15
cd "$REPO_ROOT"           # so that `dotnet` resolves the SDK through the repository's global.json
freshet_ensure_dotnet
[[ -f "$HOST_PROJECT/Freshet.ControlPlane.Host.csproj" ]] \
    || freshet_die "$HOST_PROJECT/Freshet.ControlPlane.Host.csproj not found"

# Fail now rather than after a long build.
freshet_port_free "$API_PORT" \
    || freshet_die "port $API_PORT on 127.0.0.1 is in use; set FRESHET_API_PORT to another port"
freshet_port_free "$CONSOLE_PORT" \
    || freshet_die "port $CONSOLE_PORT on 127.0.0.1 is in use; set FRESHET_CONSOLE_PORT to another port"

# --- 2. Data folder, lock, secrets ----------------------------------------------------------------
mkdir -p "$DATA_DIR" "$DATA_DIR/logs"
PG_DIR="$DATA_DIR/pg"
PG_LOG="$DATA_DIR/logs/postgresql.log"
SERVER_LOG="$DATA_DIR/logs/controlplane.log"
TRAFFIC_LOG="$DATA_DIR/logs/demo-traffic.log"
CONSOLE_LOG="$DATA_DIR/logs/console.log"
SECRETS_FILE="$DATA_DIR/secrets.env"
CREDENTIALS_FILE="$DATA_DIR/dev-credentials.json"

# One run per data folder: two would fight over the cluster and the credentials file. The lock is held
# on an open descriptor, so it is released however this script ends.
exec {LOCK_FD}>"$DATA_DIR/.run.lock"
flock -n "$LOCK_FD" || freshet_die "another infra/run.sh is already using $DATA_DIR"

# secrets.env holds KEY=VALUE lines. It is parsed, not sourced, so a stray line cannot run code.
declare -A SECRETS=()
if [[ -f "$SECRETS_FILE" ]]; then
    # Split at the first '=' by hand: `IFS='=' read` would drop a trailing '=' (base64 padding of the key).
    while IFS= read -r line; do
        key="${line%%=*}"
        if [[ "$line" == *=* && "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]]; then
            SECRETS["$key"]="${line#*=}"
        fi
    done <"$SECRETS_FILE"
fi
SUPERUSER_PASSWORD_WAS_KNOWN=1
[[ -n "${SECRETS[FRESHET_PG_SUPERUSER_PASSWORD]:-}" ]] || SUPERUSER_PASSWORD_WAS_KNOWN=0
if [[ -z "${SECRETS[FRESHET_MASTER_KEY]:-}" && -f "$PG_DIR/PG_VERSION" ]]; then
    freshet_warn "$SECRETS_FILE had no master key but a database exists: a new key is generated, and" \
        "connection secrets stored with the old one cannot be decrypted. Delete $DATA_DIR to start afresh."
fi
# Generate whatever is missing (first run, or a file from an older version of this script) and keep
# everything else unchanged: changing the master key would make the stored secrets unreadable.
SECRET_KEYS="FRESHET_PG_SUPERUSER_PASSWORD FRESHET_APP_PASSWORD FRESHET_DEMO_SOURCE_PASSWORD FRESHET_MASTER_KEY FRESHET_WORKER_CLIENT_SECRET"
changed=0
for key in $SECRET_KEYS; do
    if [[ -z "${SECRETS[$key]:-}" ]]; then
        if [[ "$key" == FRESHET_MASTER_KEY ]]; then
            SECRETS[$key]="$(freshet_random_key_base64)"
        else
            SECRETS[$key]="$(freshet_random_secret)"
        fi
        changed=1
    fi
done
if ((changed)); then
    (
        umask 077
        {
            echo "# Local secrets of infra/run.sh, generated on first run. Keep them: the master key"
            echo "# decrypts the connection secrets stored in the control database."
            for key in $SECRET_KEYS; do
                printf '%s=%s\n' "$key" "${SECRETS[$key]}"
            done
        } >"$SECRETS_FILE.tmp"
    )
    mv -f "$SECRETS_FILE.tmp" "$SECRETS_FILE"
    freshet_log "secrets written to $SECRETS_FILE"
fi
chmod 600 "$SECRETS_FILE"
SUPERUSER_PASSWORD="${SECRETS[FRESHET_PG_SUPERUSER_PASSWORD]}"
APP_PASSWORD="${SECRETS[FRESHET_APP_PASSWORD]}"
MASTER_KEY="${SECRETS[FRESHET_MASTER_KEY]}"
DEMO_SOURCE_PASSWORD="${SECRETS[FRESHET_DEMO_SOURCE_PASSWORD]}"
# The worker pool's OAuth2 client secret (client freshet-worker): given to the control plane (and migrate, which
# creates the client) and to the standalone workers, only when FRESHET_WORKERS > 0.
WORKER_CLIENT_SECRET="${SECRETS[FRESHET_WORKER_CLIENT_SECRET]}"

# --- 3. Cleanup on exit ---------------------------------------------------------------------------
SERVER_PID=""
CONSOLE_PID=""
TAIL_PID=""
TRAFFIC_PID=""
WORKER_PIDS=()
RABBIT_PID=""
PG_STARTED=0
RABBIT_DIR="$DATA_DIR/rabbitmq"
RABBIT_LOG="$DATA_DIR/logs/rabbitmq.log"
# One node name per data folder (its Erlang processes carry it in their environment, which is how they are found
# and stopped: rabbitmq-server switches to the rabbitmq user through su, so its process id is not ours to wait on).
RABBIT_NODE="freshet-run-$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-10)@localhost"

# Process ids of the RabbitMQ node of this data folder: the Erlang VM, its helpers and its own epmd.
rabbit_pids() {
    local environ pid
    for environ in /proc/[0-9]*/environ; do
        pid="${environ#/proc/}"
        pid="${pid%/environ}"
        if grep -qzxF "RABBITMQ_NODENAME=$RABBIT_NODE" "$environ" 2>/dev/null; then
            printf '%s\n' "$pid"
        fi
    done
}

# Stops the RabbitMQ node of this data folder (also one left behind by a run that was killed): SIGTERM, then
# SIGKILL after 10 s.
rabbit_stop() {
    local -a pids
    mapfile -t pids < <(rabbit_pids)
    ((${#pids[@]} > 0)) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local _
    for _ in $(seq 1 100); do
        mapfile -t pids < <(rabbit_pids)
        ((${#pids[@]} > 0)) || return 0
        sleep 0.1
    done
    freshet_warn "RabbitMQ ($RABBIT_NODE) did not stop within 10 s; killing it"
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached through the trap, which shellcheck 0.9 does not follow
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    # Finish the cleanup whatever happens: no early exit on a failing command, and no death by SIGPIPE
    # when the terminal or the pipe we print to is gone.
    set +e
    trap '' PIPE
    if [[ -n "$TRAFFIC_PID" ]]; then
        # First, so that no call fails against a server going away. The loop exits at once, or after the
        # CALL in progress.
        kill -TERM "$TRAFFIC_PID" 2>/dev/null || true
        wait "$TRAFFIC_PID" 2>/dev/null || true
    fi
    if [[ -n "$TAIL_PID" ]]; then
        kill "$TAIL_PID" 2>/dev/null || true
        wait "$TAIL_PID" 2>/dev/null || true
    fi
    if [[ -n "$CONSOLE_PID" ]] && kill -0 "$CONSOLE_PID" 2>/dev/null; then
        freshet_log "stopping the console (pid $CONSOLE_PID)"
        kill -TERM "$CONSOLE_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$CONSOLE_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$CONSOLE_PID" 2>/dev/null || true
        wait "$CONSOLE_PID" 2>/dev/null || true
    fi
    # The standalone workers before the control plane: on SIGTERM each hands its pipelines back to it (drain).
    local -a alive=()
    local pid _
    for pid in "${WORKER_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done
    if ((${#alive[@]} > 0)); then
        freshet_log "stopping ${#alive[@]} standalone worker(s) (pids ${alive[*]})"
        kill -TERM "${alive[@]}" 2>/dev/null || true
        for _ in $(seq 1 200); do
            local left=0
            for pid in "${alive[@]}"; do
                kill -0 "$pid" 2>/dev/null && left=1
            done
            ((left)) || break
            sleep 0.1
        done
        for pid in "${alive[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then
                freshet_warn "worker pid $pid did not stop within 20 s; killing it"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done
    fi
    for pid in "${WORKER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        freshet_log "stopping the control plane (pid $SERVER_PID)"
        # SIGTERM: ASP.NET Core shuts down gracefully. Give it 15 s before SIGKILL.
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local _
        for _ in $(seq 1 150); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            freshet_warn "the control plane did not stop within 15 s; killing it"
            kill -KILL "$SERVER_PID" 2>/dev/null || true
        fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$RABBIT_PID" ]]; then
        freshet_log "stopping RabbitMQ ($RABBIT_NODE)"
        rabbit_stop
        wait "$RABBIT_PID" 2>/dev/null || true
    fi
    if ((PG_STARTED)); then
        if [[ "$KEEP_PG" == 1 ]]; then
            freshet_log "FRESHET_KEEP_PG=1: PostgreSQL keeps running on 127.0.0.1:$PG_PORT ($PG_DIR)"
        else
            freshet_pg_stop "$PG_DIR"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
# INT/TERM turn into an exit, whose trap does the cleanup once. (A background job of a non-interactive
# shell ignores SIGINT, so the server is stopped explicitly by cleanup.)
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- 4. PostgreSQL --------------------------------------------------------------------------------
if [[ ! -f "$PG_DIR/PG_VERSION" ]]; then
    freshet_pg_init "$PG_DIR" "$SUPERUSER_PASSWORD"
    SUPERUSER_PASSWORD_WAS_KNOWN=1
fi
freshet_pg_start "$PG_DIR" "$PG_PORT" "$PG_LOG"
PG_STARTED=1
if ((SUPERUSER_PASSWORD_WAS_KNOWN == 0)); then
    # The cluster exists but secrets.env was lost or is new: take the cluster over with the new password.
    freshet_log "setting the superuser password of the existing cluster from $SECRETS_FILE"
    freshet_pg_set_password "$PG_DIR" postgres "$SUPERUSER_PASSWORD"
fi

psql_super() {
    PGPASSWORD="$SUPERUSER_PASSWORD" PGCONNECT_TIMEOUT=10 \
        "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}
if ! psql_super -d postgres -tAc 'SELECT 1' >/dev/null; then
    freshet_die "cannot sign in to PostgreSQL on 127.0.0.1:$PG_PORT as postgres with the password in $SECRETS_FILE"
fi
# The demo pipeline decodes the write-ahead log. freshet_pg_init configures new clusters for it; a cluster made
# otherwise (by hand, or by an older run.sh) is set up here: ALTER SYSTEM writes postgresql.auto.conf, which
# overrides postgresql.conf, and wal_level takes effect only after a restart. Higher settings stay as they are.
LOGICAL_SETTINGS_SQL="
SELECT format('ALTER SYSTEM SET %s = %L', name, wanted)
FROM (VALUES ('wal_level', 'logical'), ('max_replication_slots', '20'), ('max_wal_senders', '20')) AS s (name, wanted)
WHERE CASE name WHEN 'wal_level' THEN current_setting(name) <> 'logical' ELSE current_setting(name)::int < 10 END"
logical_changes="$(psql_super -d postgres -tAc "$LOGICAL_SETTINGS_SQL")"
if [[ -n "$logical_changes" ]]; then
    freshet_log "enabling logical decoding, then restarting PostgreSQL: ${logical_changes//$'\n'/; }"
    psql_super -d postgres <<<"$LOGICAL_SETTINGS_SQL \gexec"
    freshet_pg_stop "$PG_DIR"
    freshet_pg_start "$PG_DIR" "$PG_PORT" "$PG_LOG"
    [[ -z "$(psql_super -d postgres -tAc "$LOGICAL_SETTINGS_SQL")" ]] \
        || freshet_die "PostgreSQL on $PG_DIR still lacks wal_level=logical after a restart (see $PG_DIR/postgresql.auto.conf)"
fi
if [[ "$(psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'freshet'")" != 1 ]]; then
    psql_super -d postgres -c 'CREATE DATABASE freshet'
    freshet_log "created database freshet"
fi
# The demo source: a small shop database and a login role that may replicate it, as a customer would set up.
psql_super -d postgres -v role=freshet_demo_source -v password="$DEMO_SOURCE_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN REPLICATION PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN REPLICATION PASSWORD %L', :'role', :'password') \gexec
SQL
psql_demo() {
    PGPASSWORD="$DEMO_SOURCE_PASSWORD" PGCONNECT_TIMEOUT=5 PGOPTIONS='-c statement_timeout=10s' \
        "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U freshet_demo_source -d freshet_demo "$@"
}
if [[ "$(psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'freshet_demo'")" != 1 ]]; then
    psql_super -d postgres -c 'CREATE DATABASE freshet_demo OWNER freshet_demo_source'
    psql_demo -f "$SCRIPT_DIR/demo/shop-schema.sql"
    freshet_log "created the demo source database freshet_demo"
fi
# The traffic procedure, replaced on every start so that an edited shop-traffic.sql takes effect.
psql_demo -f "$SCRIPT_DIR/demo/shop-traffic.sql"
DEMO_SOURCE="Host=127.0.0.1;Port=$PG_PORT;Database=freshet_demo;Username=freshet_demo_source;Password=$DEMO_SOURCE_PASSWORD"

# --- 4b. RabbitMQ (FRESHET_WORKERS > 0) -----------------------------------------------------------
# A private node for the scheduler's assignment hints to the standalone workers: its own ports (node,
# distribution, and its own epmd, so that a shared epmd on 4369 is neither used nor stopped), folders under
# the data folder owned by rabbitmq (started as root, rabbitmq-server switches to that user), user guest/guest
# from loopback. Started now so that it boots while the projects build; waited for before serving.
if ((WORKERS > 0)); then
    rabbit_stop # a node of this data folder left behind by a run that was killed
    rm -rf "$RABBIT_DIR"
    mkdir -p "$RABBIT_DIR/mnesia" "$RABBIT_DIR/log"
    echo '[].' >"$RABBIT_DIR/enabled_plugins"
    if freshet_is_root; then
        chown -R rabbitmq:rabbitmq "$RABBIT_DIR"
    fi
    RABBIT_PORT="$(freshet_free_port)"
    RABBIT_DIST_PORT="$(freshet_free_port)"
    RABBIT_EPMD_PORT="$(freshet_free_port)"
    freshet_log "starting RabbitMQ on 127.0.0.1:$RABBIT_PORT (node $RABBIT_NODE, log: $RABBIT_LOG)"
    (
        exec {LOCK_FD}>&-
        cd "$RABBIT_DIR"
        exec env RABBITMQ_NODENAME="$RABBIT_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
            RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" ERL_EPMD_PORT="$RABBIT_EPMD_PORT" \
            RABBITMQ_MNESIA_BASE="$RABBIT_DIR/mnesia" RABBITMQ_LOG_BASE="$RABBIT_DIR/log" \
            RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_DIR/enabled_plugins" rabbitmq-server
    ) >"$RABBIT_LOG" 2>&1 </dev/null &
    RABBIT_PID=$!
fi

# --- 5. Build, migrate, seed ----------------------------------------------------------------------
export ConnectionStrings__ControlAdmin="Host=127.0.0.1;Port=$PG_PORT;Database=freshet;Username=postgres;Password=$SUPERUSER_PASSWORD"
export ConnectionStrings__Control="Host=127.0.0.1;Port=$PG_PORT;Database=freshet;Username=freshet_app;Password=$APP_PASSWORD"
export Freshet__Secrets__MasterKey="$MASTER_KEY"
export Freshet__DuckDb__Root="$DATA_DIR/duckdb"
# The demo source lives on this machine: let connections reach loopback (a managed installation keeps it off).
export Freshet__Connections__AllowPrivateNetworks=true
# The console's OAuth client (synced by migrate) must accept the console's own address as its redirect.
export Freshet__Auth__ConsoleClient__RedirectUris__0="$CONSOLE_URL/signin-oidc"
export Freshet__Auth__ConsoleClient__PostLogoutRedirectUris__0="$CONSOLE_URL/signout-callback-oidc"
# Likewise for alert webhooks, so a receiver on this machine (e.g. `nc -l`) can be tried with "test".
export Freshet__Status__Alerts__AllowPrivateNetworks=true
if ((WORKERS > 0)); then
    # The worker pool's OAuth2 client (migrate creates it when the secret is set) and the hints over RabbitMQ.
    export Freshet__Auth__WorkerClient__ClientSecret="$WORKER_CLIENT_SECRET"
    export Freshet__Messaging__Transport=rabbitmq
    export Freshet__Messaging__RabbitMq__Host=127.0.0.1
    export Freshet__Messaging__RabbitMq__Port="$RABBIT_PORT"
fi

if [[ "$SKIP_BUILD" != 1 ]]; then
    freshet_log "building the control plane (Release)"
    dotnet build "$HOST_PROJECT" -c Release -nologo
    freshet_log "building the data-plane worker (Release)"
    dotnet build "$WORKER_PROJECT" -c Release -nologo
    freshet_log "building the web console (Release)"
    dotnet build "$CONSOLE_PROJECT" -c Release -nologo
fi
[[ -f "$HOST_DLL" ]] || freshet_die "$HOST_DLL not found after the build"
[[ -f "$CONSOLE_DLL" ]] || freshet_die "$CONSOLE_DLL not found after the build"
if ((WORKERS > 0)); then
    [[ -f "$WORKER_DLL" ]] || freshet_die "$WORKER_DLL not found after the build (FRESHET_WORKERS=$WORKERS needs it)"
else
    [[ -f "$WORKER_DLL" ]] || freshet_warn "$WORKER_DLL not found: the demo query command below needs it (build src/Freshet.DataPlane.Worker)"
fi

freshet_log "applying migrations"
dotnet "$HOST_DLL" migrate
freshet_log "seeding demo data"
dotnet "$HOST_DLL" seed-demo --credentials-out "$CREDENTIALS_FILE" --api-url "$API_URL" --demo-source "$DEMO_SOURCE" --console-url "$CONSOLE_URL"
[[ -f "$CREDENTIALS_FILE" ]] || freshet_die "seed-demo did not write $CREDENTIALS_FILE"
chmod 600 "$CREDENTIALS_FILE"

# --- 6. Serve -------------------------------------------------------------------------------------
if [[ -n "$RABBIT_PID" ]]; then
    # Ready when the AMQP port listens (about 6 s after the start).
    for _ in $(seq 1 600); do
        freshet_port_free "$RABBIT_PORT" || break
        kill -0 "$RABBIT_PID" 2>/dev/null || break
        sleep 0.1
    done
    if freshet_port_free "$RABBIT_PORT"; then
        echo "----- last lines of $RABBIT_LOG and $RABBIT_DIR/log -----" >&2
        tail -n 30 "$RABBIT_LOG" "$RABBIT_DIR"/log/*.log >&2 2>/dev/null || true
        freshet_die "RabbitMQ did not listen on 127.0.0.1:$RABBIT_PORT within 60 s"
    fi
fi
freshet_port_free "$API_PORT" \
    || freshet_die "port $API_PORT on 127.0.0.1 is in use; set FRESHET_API_PORT to another port"
freshet_log "starting the control plane on $API_URL (log: $SERVER_LOG)"
: >"$SERVER_LOG"
# Started in the background (output to the log, so that $! is the server itself) to wait for readiness
# and print the banner; the script then waits on it as if it ran in the foreground. The worker role embeds a
# worker that the server's scheduler places pipelines on, the demo pipeline among them (with FRESHET_WORKERS
# > 0, the scheduler spreads them over it and the standalone workers).
Freshet__Roles=api,scheduler,status,worker dotnet "$HOST_DLL" --urls "$API_URL" >>"$SERVER_LOG" 2>&1 </dev/null &
SERVER_PID=$!

if ! freshet_wait_http "$API_URL/health/ready" 60 "$SERVER_PID"; then
    echo "----- last lines of $SERVER_LOG -----" >&2
    tail -n 60 "$SERVER_LOG" >&2 || true
    freshet_die "the control plane did not become ready"
fi

# --- 6a. Web console -------------------------------------------------------------------------------
# It talks to the control plane over HTTP only (OAuth2 and the REST API): no database credentials, no master key.
freshet_port_free "$CONSOLE_PORT" \
    || freshet_die "port $CONSOLE_PORT on 127.0.0.1 is in use; set FRESHET_CONSOLE_PORT to another port"
freshet_log "starting the web console on $CONSOLE_URL (log: $CONSOLE_LOG)"
: >"$CONSOLE_LOG"
(
    exec {LOCK_FD}>&-
    exec env -u ConnectionStrings__ControlAdmin -u ConnectionStrings__Control -u Freshet__Secrets__MasterKey \
        -u Freshet__Auth__WorkerClient__ClientSecret \
        Freshet__Console__ControlPlaneUrl="$API_URL" \
        dotnet "$CONSOLE_DLL" --urls "$CONSOLE_URL"
) >>"$CONSOLE_LOG" 2>&1 </dev/null &
CONSOLE_PID=$!
if ! freshet_wait_http "$CONSOLE_URL/health/live" 60 "$CONSOLE_PID"; then
    echo "----- last lines of $CONSOLE_LOG -----" >&2
    tail -n 60 "$CONSOLE_LOG" >&2 || true
    freshet_die "the web console did not become ready"
fi

# --- 6b. Standalone workers (FRESHET_WORKERS > 0) ---------------------------------------------------
# Each registers with the control plane over HTTP with the worker pool's client, hears assignment hints on
# RabbitMQ, and drains on SIGTERM. They get no database credentials and no master key: specs (secrets
# included) come from the control plane.
for i in $(seq 1 "$WORKERS"); do
    worker_log="$DATA_DIR/logs/worker-$i.log"
    : >"$worker_log"
    (
        exec {LOCK_FD}>&-
        exec env -u ConnectionStrings__ControlAdmin -u ConnectionStrings__Control -u Freshet__Secrets__MasterKey \
            -u Freshet__Auth__WorkerClient__ClientSecret -u Freshet__DuckDb__Root -u Freshet__Connections__AllowPrivateNetworks -u Freshet__Status__Alerts__AllowPrivateNetworks \
            Freshet__Worker__ControlPlane__Url="$API_URL" \
            Freshet__Worker__ControlPlane__ClientId=freshet-worker \
            Freshet__Worker__ControlPlane__ClientSecret="$WORKER_CLIENT_SECRET" \
            Freshet__Worker__Name="local-worker-$i" \
            dotnet "$WORKER_DLL" run
    ) >>"$worker_log" 2>&1 </dev/null &
    WORKER_PIDS+=("$!")
done
if ((WORKERS > 0)); then
    freshet_log "started $WORKERS standalone worker(s): pids ${WORKER_PIDS[*]} (logs: $DATA_DIR/logs/worker-<i>.log)"
fi

# --- 7. Demo traffic -------------------------------------------------------------------------------
# A few changes a second in the demo shop, one transaction per CALL (see infra/demo/shop-traffic.sql). A new
# psql per call: a call that fails (a restart, a timeout) costs that call only.
if [[ "$DEMO_TRAFFIC" != 0 ]]; then
    RUN_PID=$$
    (
        exec {LOCK_FD}>&- # the lock belongs to this script, not to the loop
        sleeper=""
        trap '[[ -z "$sleeper" ]] || kill "$sleeper" 2>/dev/null; exit 0' TERM
        ok=0 failed=0 report_at=$((SECONDS + 60))
        echo "$(date -Is) demo traffic started: CALL shop_tick() about every 0.7 s (pid $BASHPID)"
        # Also ends when the script is gone without its cleanup (SIGKILL).
        while kill -0 "$RUN_PID" 2>/dev/null; do
            if output="$(psql_demo -c 'CALL shop_tick()' 2>&1)"; then
                ok=$((ok + 1))
            else
                failed=$((failed + 1))
                echo "$(date -Is) CALL shop_tick() failed: $output"
            fi
            if ((SECONDS >= report_at)); then
                echo "$(date -Is) last minute: $ok calls, $failed failed"
                ok=0 failed=0 report_at=$((SECONDS + 60))
            fi
            # In the background, so that the TERM trap runs at once rather than after the sleep.
            sleep 0.7 &
            sleeper=$!
            wait "$sleeper" || true
            sleeper=""
        done
    ) >>"$TRAFFIC_LOG" 2>&1 </dev/null &
    TRAFFIC_PID=$!
fi

cred() { jq -r "$1 // empty" "$CREDENTIALS_FILE"; }
example_client_id="$(cred '.tenants[0].clientId')"
example_client_secret="$(cred '.tenants[0].clientSecret')"
if [[ -z "$example_client_id" ]]; then
    example_client_id="$(cred '.platformClient.clientId')"
    example_client_secret="$(cred '.platformClient.clientSecret')"
fi

cat <<EOF

  ==========================================================================
    Freshet is running
  ==========================================================================
  Console    $CONSOLE_URL   (sign in with a user below)
  API        $API_URL
  API docs   $API_URL/docs
  OpenAPI    $API_URL/openapi/v1.json
  Database   postgresql://postgres@127.0.0.1:$PG_PORT/freshet (password in $SECRETS_FILE)

  Sign in
    platform admin   $(cred '.platformAdmin.email')  /  $(cred '.platformAdmin.password')
    support user     $(cred '.supportUser.email')  /  $(cred '.supportUser.password')   (opens the console's support view)
EOF
jq -r '.tenants[]? | "    tenant \(.slug) admin   \(.adminEmail)  /  \(.adminPassword)"' "$CREDENTIALS_FILE"
cat <<EOF

  Try the API (client credentials of ${example_client_id:-<none>}):
    API=$API_URL
    TOKEN=\$(curl -s -d grant_type=client_credentials -d client_id=$example_client_id \\
      -d client_secret=$example_client_secret \$API/connect/token | jq -r .access_token)
    curl -H "Authorization: Bearer \$TOKEN" \$API/v1/pipelines

EOF
if ((WORKERS > 0)); then
    worker_lines=""
    for i in $(seq 1 "$WORKERS"); do
        worker_lines+="    local-worker-$i   pid ${WORKER_PIDS[$((i - 1))]}, log $DATA_DIR/logs/worker-$i.log"$'\n'
    done
    cat <<EOF
  Workers: $((WORKERS + 1)) — the server's embedded worker and $WORKERS standalone worker process(es); the scheduler
  places pipelines on them, hints over RabbitMQ (127.0.0.1:$RABBIT_PORT, log $RABBIT_LOG)
$worker_lines
EOF
else
    cat <<EOF
  Workers: 1 — the server's embedded worker (FRESHET_WORKERS=N adds N standalone worker processes)
EOF
fi
cat <<EOF
  List them (platform client):
    PTOKEN=\$(curl -s -d grant_type=client_credentials -d client_id=$(cred '.platformClient.clientId') \\
      -d client_secret=$(cred '.platformClient.clientSecret') \$API/connect/token | jq -r .access_token)
    curl -H "Authorization: Bearer \$PTOKEN" \$API/v1/workers

EOF
demo_pipeline="$(cred '.demo.pipelineId')"
demo_duckdb="$(cred '.demo.duckdbPath')"
if [[ -n "$demo_pipeline" && -n "$demo_duckdb" ]]; then
    if [[ "$DEMO_TRAFFIC" != 0 ]]; then
        demo_traffic="a few orders a second (CALL shop_tick(); log: $TRAFFIC_LOG)"
    else
        demo_traffic="off (FRESHET_DEMO_TRAFFIC=0); make changes with psql, e.g. CALL shop_tick()"
    fi
    cat <<EOF
  Demo pipeline (tenant demo), run by the worker the scheduler placed it on: snapshot, then every change
    pipeline   $demo_pipeline
    source     postgresql://freshet_demo_source@127.0.0.1:$PG_PORT/freshet_demo (password in $SECRETS_FILE)
    traffic    $demo_traffic
    DuckDB     $demo_duckdb
    Look at the rows (the file appears once the snapshot is written):
      dotnet $(printf '%q' "$WORKER_DLL") duckdb-query $(printf '%q' "$demo_duckdb") \\
        "SELECT status, count(*) AS orders FROM orders GROUP BY 1 ORDER BY 1"

EOF
else
    freshet_warn "$CREDENTIALS_FILE has no demo pipeline (.demo): the banner leaves the demo out"
fi
cat <<EOF
  All demo credentials: $CREDENTIALS_FILE
  Server log: $SERVER_LOG   Console log: $CONSOLE_LOG
  Ctrl-C stops the server, the console$([[ "$DEMO_TRAFFIC" == 0 ]] || printf ', the demo traffic')$(((WORKERS == 0)) || printf ', the workers, RabbitMQ')$([[ "$KEEP_PG" == 1 ]] || printf ' and PostgreSQL').

EOF

if [[ "$FOLLOW_LOG" == 1 ]]; then
    # Stream the log from here on; --pid ends tail when the server exits.
    tail -n 0 -F --pid="$SERVER_PID" "$SERVER_LOG" &
    TAIL_PID=$!
fi

# `wait` returns early when a trapped signal arrives; the trap then exits and cleanup stops everything.
server_rc=0
wait "$SERVER_PID" || server_rc=$?
SERVER_PID=""
freshet_log "the control plane exited with code $server_rc"
exit "$server_rc"
