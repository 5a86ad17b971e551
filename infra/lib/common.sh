# shellcheck shell=bash
# Helpers shared by infra/run.sh, infra/test.sh and the benchmarks. Source it, do not execute it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Every function either succeeds or prints a clear message on stderr and returns non-zero, so callers
# running under `set -euo pipefail` stop at the first problem. Functions and globals are prefixed
# `freshet_` / `FRESHET_`; names with a double underscore are internal.
#
# PostgreSQL layout made by freshet_pg_init DIR (PARENT is DIR's parent folder):
#   DIR                            the cluster (owned by postgres when running as root, mode 700)
#   PARENT/pg-socket/              its Unix socket folder (owned by postgres)
#   PARENT/pg-superuser-password   the superuser's password, only when freshet_pg_init generated it
# Authentication: trust over the Unix socket (only the postgres OS user and root can reach that folder),
# scram-sha-256 over TCP on 127.0.0.1 for everyone, superuser `postgres` included.

if [[ -n "${FRESHET__COMMON_SOURCED:-}" ]]; then
    return 0
fi
FRESHET__COMMON_SOURCED=1

# Oldest PostgreSQL major version we accept (Debian 12's; the tests are written against its features).
FRESHET_PG_MIN_VERSION=15
# Oldest .NET SDK major version we accept (the solution targets net10.0).
FRESHET_DOTNET_MIN_VERSION=10

# Keep the .NET CLI quiet and offline-friendly in every script that sources this file.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# ---------------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------------

freshet_log() {
    printf '[freshet] %s\n' "$*" >&2
}

freshet_warn() {
    printf '[freshet] WARNING: %s\n' "$*" >&2
}

# Prints an error and exits the (sub)shell. Meant for scripts; functions below use `return 1` so that a
# caller can decide, but under `set -e` that stops the script just the same.
freshet_die() {
    printf '[freshet] ERROR: %s\n' "$*" >&2
    exit 1
}

freshet__err() {
    printf '[freshet] ERROR: %s\n' "$*" >&2
    return 1
}

freshet_is_root() {
    [[ "$(id -u)" -eq 0 ]]
}

# A random secret of 40 hex characters (160 bits). Hex on purpose: it needs no quoting in shell files,
# connection strings (`;` and `=` are special there) or URLs. `od` reads a fixed count of bytes, so
# there is no `tr </dev/urandom | head` pipeline whose SIGPIPE would trip `pipefail`.
freshet_random_secret() {
    od -An -tx1 -N20 /dev/urandom | tr -d ' \n'
}

# 32 random bytes, base64 (44 characters): the format of the secrets master key.
freshet_random_key_base64() {
    head -c32 /dev/urandom | base64 -w0
}

# ---------------------------------------------------------------------------------------------------
# Packages and tools
# ---------------------------------------------------------------------------------------------------

FRESHET__APT_UPDATED=""

freshet__pkg_installed() {
    # `dpkg -s` also succeeds for a removed package whose config files remain, so check the status line.
    # (Captured first: `dpkg -s | grep -q` could fail under pipefail when grep exits early.)
    local status
    status="$(dpkg -s "$1" 2>/dev/null)" || return 1
    [[ "$status" == *$'\nStatus: install ok installed\n'* || "$status" == 'Status: install ok installed'* ]]
}

# freshet_ensure_packages PKG...
# Installs the Debian packages that are missing. `apt-get update` runs at most once per process and only
# when something is missing, so a machine that has everything pays nothing.
freshet_ensure_packages() {
    local -a missing=()
    local pkg
    for pkg in "$@"; do
        freshet__pkg_installed "$pkg" || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    if ! freshet_is_root; then
        freshet__err "missing Debian packages: ${missing[*]}. Install them as root:" \
            "apt-get update && apt-get install -y ${missing[*]}"
        return 1
    fi
    command -v apt-get >/dev/null 2>&1 \
        || { freshet__err "missing packages ${missing[*]} and no apt-get on this machine"; return 1; }

    # Wait for a dpkg lock held by another apt run instead of failing at once.
    local -a apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
    if [[ -z "$FRESHET__APT_UPDATED" ]]; then
        freshet_log "apt-get update (missing: ${missing[*]})"
        DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -qq update >&2 \
            || { freshet__err "apt-get update failed"; return 1; }
        FRESHET__APT_UPDATED=1
    fi
    freshet_log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" -y -q --no-install-recommends \
        install "${missing[@]}" >&2 \
        || { freshet__err "apt-get install ${missing[*]} failed"; return 1; }
}

# freshet_ensure_dotnet
# Checks that `dotnet` is on PATH (or in a usual install folder, which is then added to PATH) and that
# the SDK it resolves from the current folder (global.json applies) is .NET 10 or newer. The SDK cannot
# be downloaded by this script: it is a prerequisite.
freshet_ensure_dotnet() {
    if ! command -v dotnet >/dev/null 2>&1; then
        local dir
        for dir in "${DOTNET_ROOT:-}" "${HOME:-/root}/.dotnet" /usr/share/dotnet /usr/lib/dotnet /opt/dotnet; do
            if [[ -n "$dir" && -x "$dir/dotnet" ]]; then
                export PATH="$dir:$PATH"
                break
            fi
        done
    fi
    local how="Install the .NET ${FRESHET_DOTNET_MIN_VERSION} SDK (Debian/Ubuntu package dotnet-sdk-${FRESHET_DOTNET_MIN_VERSION}.0 from Microsoft's package feed, or Microsoft's dotnet-install.sh script with --channel ${FRESHET_DOTNET_MIN_VERSION}.0) and make sure \`dotnet\` is on PATH (or set DOTNET_ROOT)."
    if ! command -v dotnet >/dev/null 2>&1; then
        freshet__err "the .NET SDK was not found. $how"
        return 1
    fi
    local version
    # The last line of stdout is the version (ignore anything else a first run might print).
    if ! version="$(dotnet --version 2>/dev/null | tail -n1)"; then
        # Typically global.json asks for an SDK that is not installed; dotnet's own message says which.
        dotnet --version >&2 || true
        freshet__err "\`dotnet --version\` failed (is a .NET ${FRESHET_DOTNET_MIN_VERSION} SDK installed? see global.json). $how"
        return 1
    fi
    local major="${version%%.*}"
    if [[ ! "$major" =~ ^[0-9]+$ ]] || ((major < FRESHET_DOTNET_MIN_VERSION)); then
        freshet__err "found .NET SDK '$version' at $(command -v dotnet); version ${FRESHET_DOTNET_MIN_VERSION} or newer is required. $how"
        return 1
    fi
}

# freshet_free_port
# Prints a TCP port on 127.0.0.1 that nothing listens on right now. Racy by nature (someone may take it
# before we bind it), so it picks at random, below Linux's ephemeral range (32768+) where outgoing
# connections get their ports.
freshet_free_port() {
    local port _
    for _ in $(seq 1 200); do
        port=$((15000 + RANDOM % 17000))
        if freshet_port_free "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    freshet__err "no free TCP port found on 127.0.0.1"
}

# freshet_port_free PORT: succeeds when nothing listens on 127.0.0.1:PORT (nor on a wildcard address).
freshet_port_free() {
    local port="$1"
    if command -v ss >/dev/null 2>&1; then
        # Any listener on that port (127.0.0.1, 0.0.0.0, ::) would make our bind fail.
        [[ -z "$(ss -Htln "sport = :$port" 2>/dev/null)" ]]
    else
        # Fallback: a connection that is refused means nobody listens. The subshell keeps the fd local.
        ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# freshet_wait_http URL TIMEOUT_SECONDS [PID]
# Waits until URL answers 200. Gives up early when PID (e.g. the server being waited for) has exited.
freshet_wait_http() {
    local url="$1" timeout="$2" pid="${3:-}"
    local deadline=$((SECONDS + timeout)) code
    while ((SECONDS < deadline)); do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            freshet__err "process $pid exited while waiting for $url"
            return 1
        fi
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)"
        if [[ "$code" == "200" ]]; then
            return 0
        fi
        sleep 0.5
    done
    freshet__err "$url did not answer 200 within ${timeout}s (last status: ${code:-none})"
    return 1
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

# Runs a command as the OS user that owns the clusters: `postgres` when we are root (initdb and pg_ctl
# refuse to run as root), ourselves otherwise.
freshet__as_pg() {
    if freshet_is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Gives PATH to the cluster's OS user: postgres when we are root, otherwise nothing to do.
freshet__chown_pg() {
    if freshet_is_root; then
        chown postgres:postgres "$@"
    fi
}

# Closes every descriptor above 2 of the current shell. Call it in a subshell that then starts a
# long-lived process.
freshet__close_inherited_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd="${fd##*/}"
        if [[ "$fd" =~ ^[0-9]+$ ]] && ((fd > 2)); then
            eval "exec ${fd}>&-" 2>/dev/null || true
        fi
    done
}

# freshet_pg_bin [DIR]
# Prints the bin folder of the PostgreSQL server to use: with DIR holding an existing cluster, the
# version that cluster was made with (a newer server cannot open it); otherwise the highest installed
# version. FRESHET_PG_BIN overrides the search.
freshet_pg_bin() {
    local dir="${1:-}" version bin
    if [[ -n "${FRESHET_PG_BIN:-}" ]]; then
        [[ -x "$FRESHET_PG_BIN/pg_ctl" ]] || { freshet__err "FRESHET_PG_BIN=$FRESHET_PG_BIN has no pg_ctl"; return 1; }
        printf '%s\n' "$FRESHET_PG_BIN"
        return 0
    fi
    if [[ -n "$dir" && -f "$dir/PG_VERSION" ]]; then
        version="$(<"$dir/PG_VERSION")"
        bin="/usr/lib/postgresql/$version/bin"
        [[ -x "$bin/pg_ctl" ]] || {
            freshet__err "cluster $dir was made by PostgreSQL $version, which is not installed (apt-get install postgresql-$version, or delete the cluster)"
            return 1
        }
        printf '%s\n' "$bin"
        return 0
    fi
    local candidate v
    version=""
    for candidate in /usr/lib/postgresql/*/bin/pg_ctl; do
        [[ -x "$candidate" ]] || continue # also skips the unexpanded glob when nothing matches
        v="${candidate#/usr/lib/postgresql/}"
        v="${v%%/*}"
        if [[ "$v" =~ ^[0-9]+$ ]] && ((v > ${version:-0})); then
            version="$v"
        fi
    done
    if [[ -z "$version" ]]; then
        freshet__err "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)"
        return 1
    fi
    if ((version < FRESHET_PG_MIN_VERSION)); then
        freshet__err "PostgreSQL $version found; version $FRESHET_PG_MIN_VERSION or newer is required"
        return 1
    fi
    printf '%s\n' "/usr/lib/postgresql/$version/bin"
}

# freshet_pg_socket_dir DIR: the Unix socket folder of the cluster in DIR.
freshet_pg_socket_dir() {
    printf '%s\n' "$(dirname "$(freshet__abspath "$1")")/pg-socket"
}

freshet__abspath() {
    local path="$1"
    if [[ "$path" != /* ]]; then
        path="$PWD/$path"
    fi
    # Normalise without requiring the path to exist.
    realpath -m -- "$path"
}

# Fails when the cluster's OS user cannot reach PATH (e.g. a repository under /root, mode 700).
freshet__check_pg_can_reach() {
    local path="$1"
    if freshet_is_root && ! runuser -u postgres -- test -x "$path"; then
        freshet__err "the postgres user cannot enter $path (a parent folder is not world-searchable)." \
            "Choose a data folder elsewhere (e.g. FRESHET_DATA_DIR=/var/tmp/freshet) or chmod o+x its parents."
        return 1
    fi
}

# freshet_pg_init DIR [PASSWORD]
# Creates a cluster in DIR (which must be absent or empty) with superuser `postgres`. The superuser gets
# PASSWORD, or a generated one that is written to PARENT/pg-superuser-password (mode 600; read it back
# with freshet_pg_superuser_password). Appends the settings Freshet needs to postgresql.conf.
freshet_pg_init() {
    local dir password="${2:-}"
    dir="$(freshet__abspath "${1:?freshet_pg_init DIR [PASSWORD]}")"
    local parent socket_dir bin
    parent="$(dirname "$dir")"
    socket_dir="$parent/pg-socket"

    if [[ -f "$dir/PG_VERSION" ]]; then
        freshet__err "$dir already holds a PostgreSQL cluster"
        return 1
    fi
    if [[ -d "$dir" && -n "$(ls -A "$dir")" ]]; then
        freshet__err "$dir exists, is not empty and is not a PostgreSQL cluster; move it away first"
        return 1
    fi
    bin="$(freshet_pg_bin)" || return 1

    mkdir -p "$dir" "$socket_dir"
    chmod 700 "$dir"
    chmod 750 "$socket_dir"
    freshet__chown_pg "$dir" "$socket_dir"
    freshet__check_pg_can_reach "$dir" || return 1

    if [[ -z "$password" ]]; then
        password="$(freshet_random_secret)"
        (umask 077 && printf '%s\n' "$password" >"$parent/pg-superuser-password")
    fi

    # initdb reads the password from a file, which the postgres user must be able to read; it lives only
    # for the duration of initdb.
    local pwfile rc=0
    pwfile="$(mktemp)"
    chmod 600 "$pwfile"
    printf '%s\n' "$password" >"$pwfile"
    freshet__chown_pg "$pwfile"
    freshet__as_pg "$bin/initdb" -D "$dir" -U postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"$parent/pg-initdb.log" 2>&1 || rc=$?
    rm -f "$pwfile"
    if ((rc != 0)); then
        cat "$parent/pg-initdb.log" >&2
        freshet__err "initdb failed for $dir (log above, also in $parent/pg-initdb.log)"
        return 1
    fi

    # A Unix socket path is limited to 107 bytes; when ours would be longer, listen on TCP only (all our
    # clients use TCP; the socket is a convenience for `psql` as postgres).
    local socket_setting="$socket_dir" socket_file="$socket_dir/.s.PGSQL.65535"
    if ((${#socket_file} > 107)); then
        freshet_warn "socket path under $socket_dir would be too long; the cluster listens on TCP only"
        socket_setting=""
    fi

    cat >>"$dir/postgresql.conf" <<EOF

# ---- added by infra/lib/common.sh (freshet_pg_init) ----
# Logical decoding for CDC, with room for many slots when tests run in parallel.
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
# Loopback only; the port is given on the command line by freshet_pg_start.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_setting'
max_connections = 200
shared_buffers = 256MB
# fsync stays on: the checkpoint/exactly-once guarantees are exercised against real durability.
EOF
    freshet_log "initialised PostgreSQL cluster in $dir ($("$bin/postgres" --version))"
}

# freshet_pg_superuser_password DIR: prints the password that freshet_pg_init generated for DIR.
freshet_pg_superuser_password() {
    local file
    file="$(dirname "$(freshet__abspath "$1")")/pg-superuser-password"
    [[ -r "$file" ]] || { freshet__err "no $file (the password was given to freshet_pg_init by its caller)"; return 1; }
    head -n1 "$file"
}

# Succeeds when process PID exists and is not a zombie. (kill -0 also succeeds on a zombie, and in a
# container whose PID 1 reaps late, a killed postmaster can stay a zombie for a while.)
freshet__pid_alive() {
    local pid="$1" stat
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    # Field 3, after the command name in parentheses (which may itself hold spaces or parentheses).
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# Succeeds when a live process works in DIR: every PostgreSQL process, postmaster and backends, has the
# data folder as its current directory. (As non-root only our own processes are visible, which is
# enough: then the cluster is ours too.)
freshet__pg_dir_in_use() {
    local dir="$1" proc
    for proc in /proc/[0-9]*; do
        if [[ "$(readlink "$proc/cwd" 2>/dev/null)" == "$dir" ]] && freshet__pid_alive "${proc#/proc/}"; then
            return 0
        fi
    done
    return 1
}

# freshet_pg_running_port DIR: prints the port of the postmaster running on DIR; fails when none runs.
freshet_pg_running_port() {
    local dir pid
    dir="$(freshet__abspath "$1")"
    [[ -f "$dir/postmaster.pid" ]] || return 1
    # postmaster.pid: line 1 pid, 2 data dir, 3 start time, 4 port.
    pid="$(sed -n '1p' "$dir/postmaster.pid")"
    freshet__pid_alive "$pid" || return 1
    sed -n '4p' "$dir/postmaster.pid"
}

# Removes the lock files of a postmaster that died without cleaning up (kill -9, OOM, machine reset),
# once none of its processes is left. PostgreSQL removes such files itself unless their pid still
# exists, as a zombie or reused by an unrelated process; then it refuses to start.
freshet__pg_clear_stale_locks() {
    local dir="$1" port="$2" socket_dir deadline=$((SECONDS + 15))
    [[ -f "$dir/postmaster.pid" ]] || return 0
    # Backends of a dead postmaster exit within moments; never remove the lock while one still runs.
    while freshet__pg_dir_in_use "$dir"; do
        if ((SECONDS >= deadline)); then
            freshet__err "the postmaster of $dir is gone but processes still work in it; stop them first"
            return 1
        fi
        sleep 0.2
    done
    freshet_warn "removing the stale postmaster.pid of $dir (the server was not shut down cleanly)"
    rm -f "$dir/postmaster.pid"
    socket_dir="$(freshet_pg_socket_dir "$dir")"
    if [[ -f "$socket_dir/.s.PGSQL.$port.lock" ]] \
        && ! freshet__pid_alive "$(sed -n '1p' "$socket_dir/.s.PGSQL.$port.lock")"; then
        rm -f "$socket_dir/.s.PGSQL.$port.lock" "$socket_dir/.s.PGSQL.$port"
    fi
}

# freshet_pg_start DIR PORT LOG
# Starts the cluster in DIR on 127.0.0.1:PORT, logging to LOG, and waits until it accepts connections.
# When it is already running on PORT it is reused; running on another port is an error.
freshet_pg_start() {
    local dir port="${2:?freshet_pg_start DIR PORT LOG}" log="${3:?freshet_pg_start DIR PORT LOG}"
    dir="$(freshet__abspath "${1:?freshet_pg_start DIR PORT LOG}")"
    log="$(freshet__abspath "$log")"
    [[ -f "$dir/PG_VERSION" ]] || { freshet__err "$dir is not a PostgreSQL cluster (run freshet_pg_init first)"; return 1; }

    local running
    if running="$(freshet_pg_running_port "$dir")"; then
        if [[ "$running" == "$port" ]]; then
            freshet_log "PostgreSQL already running on $dir (port $port): reusing it"
            freshet_pg_wait "$port"
            return
        fi
        freshet__err "PostgreSQL on $dir is already running on port $running, not $port." \
            "Stop it (pg_ctl -D $dir -m fast stop, as postgres) or use port $running."
        return 1
    fi
    freshet__pg_clear_stale_locks "$dir" "$port" || return 1
    if ! freshet_port_free "$port"; then
        freshet__err "port $port on 127.0.0.1 is already in use by another program; choose another port"
        return 1
    fi

    local bin
    bin="$(freshet_pg_bin "$dir")" || return 1
    # The socket folder may have been removed (e.g. a cleaned /tmp): recreate it with the right owner.
    local socket_dir
    socket_dir="$(freshet_pg_socket_dir "$dir")"
    if [[ ! -d "$socket_dir" ]]; then
        mkdir -p "$socket_dir"
        chmod 750 "$socket_dir"
        freshet__chown_pg "$socket_dir"
    fi
    # pg_ctl opens LOG as the cluster's user: create it ourselves so that its folder may be ours.
    mkdir -p "$(dirname "$log")"
    touch "$log"
    freshet__chown_pg "$log"

    # -w waits until the server is ready (pg_ctl watches postmaster.pid); -t bounds the wait. The server
    # outlives us, so it must not inherit our descriptors beyond 0-2 (pg_ctl redirects those): an
    # inherited pipe would keep a reader waiting for EOF, an inherited lock would stay held.
    if ! (
        freshet__close_inherited_fds
        freshet__as_pg "$bin/pg_ctl" -D "$dir" -o "-p $port" -l "$log" -w -t 60 start >/dev/null
    ); then
        tail -n 30 "$log" >&2 || true
        freshet__err "PostgreSQL failed to start on $dir (port $port); log: $log"
        return 1
    fi
    freshet_pg_wait "$port"
    freshet_log "PostgreSQL started on 127.0.0.1:$port (data: $dir, log: $log)"
}

# freshet_pg_stop DIR: fast shutdown (rolls back open transactions, disconnects clients); no-op when
# the cluster is not running.
freshet_pg_stop() {
    local dir bin
    dir="$(freshet__abspath "${1:?freshet_pg_stop DIR}")"
    freshet_pg_running_port "$dir" >/dev/null || return 0
    bin="$(freshet_pg_bin "$dir")" || return 1
    freshet__as_pg "$bin/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null
    freshet_log "PostgreSQL stopped ($dir)"
}

# freshet_pg_wait PORT [TIMEOUT_SECONDS=30]: waits until a server accepts connections on 127.0.0.1:PORT.
freshet_pg_wait() {
    local port="${1:?freshet_pg_wait PORT [TIMEOUT]}" timeout="${2:-30}" bin
    bin="$(freshet_pg_bin)" || return 1
    local deadline=$((SECONDS + timeout))
    # pg_isready answers without credentials: 0 = accepting, 1 = starting/rejecting, 2 = no answer.
    until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; do
        if ((SECONDS >= deadline)); then
            freshet__err "PostgreSQL on 127.0.0.1:$port not ready after ${timeout}s"
            return 1
        fi
        sleep 0.2
    done
}

# freshet_pg_set_password DIR ROLE PASSWORD
# Sets ROLE's password through the cluster's Unix socket (trust for the postgres OS user): the way back
# in when the superuser password was lost. The password goes through stdin, never on a command line.
freshet_pg_set_password() {
    local dir role="${2:?}" password="${3:?}" socket_dir port bin
    dir="$(freshet__abspath "${1:?freshet_pg_set_password DIR ROLE PASSWORD}")"
    port="$(freshet_pg_running_port "$dir")" || { freshet__err "PostgreSQL on $dir is not running"; return 1; }
    socket_dir="$(freshet_pg_socket_dir "$dir")"
    [[ -S "$socket_dir/.s.PGSQL.$port" ]] \
        || { freshet__err "no Unix socket for the cluster in $dir; cannot reset $role's password"; return 1; }
    bin="$(freshet_pg_bin "$dir")" || return 1
    # psql's :'var' quoting escapes the values; \gexec runs the statement built by format().
    freshet__as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$socket_dir" -p "$port" -U postgres -d postgres \
        -v role="$role" >/dev/null <<SQL
\set pw '$(printf '%s' "$password" | sed "s/'/''/g")'
SELECT format('ALTER ROLE %I PASSWORD %L', :'role', :'pw') \gexec
SQL
}
