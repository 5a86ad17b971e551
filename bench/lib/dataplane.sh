# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Shared by the data-plane benchmarks (bench/pg-stream, bench/pg-latency, bench/pg-snapshot). Source it, then call
#   bench_dataplane_main VERB [ARGS...]
# It starts a throwaway PostgreSQL cluster (wal_level=logical, fsync on) on a free loopback port, builds
# bench/Freshet.Bench in Release (which also builds the worker executable in Release), publishes the worker as the image
# does (bench/lib/worker.sh), and runs the verb; the verb starts that worker as a separate process, drives the load, measures the
# baseline and prints the BENCH summary line last. The cluster and every file are removed on exit.

bench_dataplane_main() {
    local verb="$1"
    shift
    local repo_root
    repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    # shellcheck source=../../infra/lib/common.sh
    source "$repo_root/infra/lib/common.sh"

    freshet_ensure_packages postgresql
    freshet_ensure_dotnet

    BENCH_WORK="$(mktemp -d /tmp/freshet-bench-"$verb"-XXXXXX)"
    chmod 755 "$BENCH_WORK" # the postgres user must reach the cluster folder inside
    BENCH_PG_DIR="$BENCH_WORK/pg"
    trap bench_dataplane_cleanup EXIT

    local password port bin
    password="$(freshet_random_secret)"
    port="$(freshet_free_port)"
    freshet_pg_init "$BENCH_PG_DIR" "$password" >/dev/null
    # Room for the loads without checkpoints in the middle of a measurement.
    cat >>"$BENCH_PG_DIR/postgresql.conf" <<CONF
# ---- added by bench/lib/dataplane.sh ----
max_wal_size = 8GB
checkpoint_timeout = 30min
CONF
    freshet_pg_start "$BENCH_PG_DIR" "$port" "$BENCH_WORK/postgresql.log" >/dev/null
    bin="$(freshet_pg_bin "$BENCH_PG_DIR")"

    freshet_log "building bench/Freshet.Bench and the worker (Release)"
    dotnet build "$repo_root/bench/Freshet.Bench" -c Release -nologo -v quiet >"$BENCH_WORK/build.log" 2>&1 \
        || { cat "$BENCH_WORK/build.log" >&2; freshet_die "the Release build failed (log above)"; }

    # libpq tools (psql, pgbench, pg_recvlogical) and the bench itself read the cluster from these.
    export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGPASSWORD="$password"
    export BENCH_PG_BIN="$bin"
    # The worker as the image ships it, unless BENCH_WORKER_BUILD / BENCH_WORKER_DLL_OVERRIDE say otherwise (worker.sh).
    # shellcheck source=worker.sh
    source "$repo_root/bench/lib/worker.sh"
    BENCH_WORKER_DLL="$(bench_worker_dll "$repo_root" "$BENCH_WORK")" || exit 1
    export BENCH_WORKER_DLL
    freshet_log "worker under test: $BENCH_WORKER_DLL"
    export BENCH_WORK_DIR="$BENCH_WORK/run"
    mkdir -p "$BENCH_WORK_DIR"
    dotnet "$repo_root/bench/Freshet.Bench/bin/Release/net10.0/Freshet.Bench.dll" "$verb" "$@"
}

bench_dataplane_cleanup() {
    local rc=$?
    if [[ -n "${BENCH_KEEP:-}" ]]; then
        freshet_log "BENCH_KEEP is set: keeping $BENCH_WORK (cluster stopped)"
        freshet_pg_stop "$BENCH_PG_DIR" >/dev/null 2>&1 || true
        return "$rc"
    fi
    freshet_pg_stop "$BENCH_PG_DIR" >/dev/null 2>&1 || true
    rm -rf "$BENCH_WORK"
    return "$rc"
}
