#!/usr/bin/env bash
# bench/run mysql-stream — streaming throughput MariaDB (binlog) → DuckDB beside two ceilings, and latency at 5,000 rows/s.
#
# Builds bench/Freshet.Bench in Release (which builds the worker too); the bench starts its own MariaDB (the machine's
# mariadbd, tests/Freshet.Testing MariaDbServer: free loopback port, folder under /tmp/freshet-tests, removed when the
# bench exits) and the worker as a separate Release process into a DuckDB file.
# Live: the worker streams BENCH_WARMUP_ROWS (300,000, not counted), then 1,000,000 rows arrive as 100 transactions of
# 10,000 while it streams; live = rows / (last row's destination commit − the moment before the first insert). Then, same
# worker, a steady BENCH_RATE (5,000) rows/s as 50-row transactions for BENCH_SECONDS (60) after BENCH_WARMUP_SECONDS
# (5): latency = _freshet_synced_at − the row's NOW(6) at insert (binlog commit times are whole seconds). With the worker
# stopped: (a) mariadb-binlog --read-from-remote-server reads the live load's binlog range to /dev/null; (b) DuckDB
# bulk-inserts the same 1,000,000 rows (INSERT … SELECT) into a fresh keyed table. live_ratio = live / min(a, b), bounded
# by MariaDB's own insert rate (load_rows_per_s); live_of_load = live / that rate.
# The mariadb-binlog read is repeated with --base64-output=DECODE-ROWS --verbose for context. Then catch-up rounds: each
# loads 1,000,000 more rows with the worker stopped, drains them with a freshly started worker (the ceilings' situation:
# the rows are already in the binlog) and measures both ceilings over them; the summary gives the medians of the rounds.
# The headline rows_per_s counts from the worker's "streaming the binlog" log line to the last destination commit (like
# for like with the ceilings; ceiling (b) excludes process start and opening DuckDB too); ratio = rows_per_s / min(a, b),
# target >= 0.8. from_launch_rows_per_s counts from the worker's launch instead.
# Environment: BENCH_TRANSACTIONS, BENCH_ROWS_PER_TRANSACTION, BENCH_WARMUP_ROWS, BENCH_RATE, BENCH_SECONDS,
# BENCH_WARMUP_SECONDS, BENCH_CATCHUP (catch-up rounds, 5: each a fresh backlog, worker and pair of ceilings; the
# summary gives medians; 0 skips them and leaves the headline empty), BENCH_LIVE (1; 0 skips the live and latency runs:
# only the catch-up rounds), BENCH_MAX_BATCH_ROWS and BENCH_MAX_BATCH_DELAY_MS (delivery limits; the defaults otherwise),
# BENCH_KEEP (keep the scratch folder and the worker logs), BENCH_WORKER_ENV_X=v, BENCH_WORKER_BUILD (image: the worker
# published as the image does, the default; plain: the Release build) and BENCH_WORKER_DLL_OVERRIDE (another build), see
# bench/lib/worker.sh.
# Last line: BENCH mysql-stream rows_per_s=… binlog_rows_per_s=… duckdb_bulk_rows_per_s=… ratio=… p50_s=… p99_s=…
#            peak_rss_mb=… latency_rows_per_s=… live_rows_per_s=… live_ratio=… load_rows_per_s=… live_of_load=…
#            from_launch_rows_per_s=… from_launch_ratio=… binlog_decoded_rows_per_s=… rounds=… busy_before_pct=…
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../infra/lib/common.sh
source "$repo_root/infra/lib/common.sh"

freshet_ensure_packages mariadb-server mariadb-client
freshet_ensure_dotnet

BENCH_WORK="$(mktemp -d /tmp/freshet-bench-mysql-stream-XXXXXX)"
cleanup() {
    local rc=$?
    if [[ -n "${BENCH_KEEP:-}" ]]; then
        freshet_log "BENCH_KEEP is set: keeping $BENCH_WORK"
    else
        rm -rf "$BENCH_WORK"
    fi
    return "$rc"
}
trap cleanup EXIT

freshet_log "building bench/Freshet.Bench and the worker (Release)"
dotnet build "$repo_root/bench/Freshet.Bench" -c Release -nologo -v quiet >"$BENCH_WORK/build.log" 2>&1 \
    || { cat "$BENCH_WORK/build.log" >&2; freshet_die "the Release build failed (log above)"; }

# The worker as the image ships it (ReadyToRun), unless BENCH_WORKER_BUILD=plain or BENCH_WORKER_DLL_OVERRIDE (worker.sh).
# shellcheck source=../lib/worker.sh
source "$repo_root/bench/lib/worker.sh"
BENCH_WORKER_DLL="$(bench_worker_dll "$repo_root" "$BENCH_WORK")" || exit 1
export BENCH_WORKER_DLL
freshet_log "worker under test: $BENCH_WORKER_DLL"
export BENCH_WORK_DIR="$BENCH_WORK/run"
mkdir -p "$BENCH_WORK_DIR"
# Not exec: the trap above removes the scratch folder after the bench (which stops its MariaDB on exit).
dotnet "$repo_root/bench/Freshet.Bench/bin/Release/net10.0/Freshet.Bench.dll" mysql-stream "$@"
