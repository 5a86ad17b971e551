#!/usr/bin/env bash
# bench/run failover — a worker killed (SIGKILL) under steady load: seconds until every pipeline it ran has committed a
# batch on another worker, and rows lost and duplicated.
#
# Starts a whole installation as real processes (tests/Freshet.Testing PoolCluster): a throwaway PostgreSQL (source,
# control database; fsync off like the test fixtures) and RabbitMQ node from the machine's packages, one Release
# control-plane host and 3 Release workers; 6 pipelines PostgreSQL → DuckDB under one small transaction per table every
# 100 ms. Baseline first, in the same run: one worker drained with SIGTERM (its pipelines handed back and started
# elsewhere, no failure). Then BENCH_ROUNDS (3) kills of a different worker each, with a replacement started after
# each so 3 stay alive. Times are the destinations' own commit stamps (_freshet_synced_at) against the kill; phases from
# the control database (lease expiry, new placement). BENCH_KEEP is not supported: everything is removed on exit.
# Last line: BENCH failover failover_s=… rows_lost=… rows_duplicated=… failover_median_s=… lease_s=… lease_left_s=…
#            detect_s=… restart_s=… baseline_restart_s=… drain_s=… rounds=… peak_rss_mb=… busy_before_pct=…
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../infra/lib/common.sh
source "$repo_root/infra/lib/common.sh"

freshet_ensure_packages postgresql rabbitmq-server
freshet_ensure_dotnet

log="$(mktemp /tmp/freshet-bench-failover-build-XXXXXX.log)"
# PoolCluster starts the host and the worker from src/<project>/bin/Release/net10.0; the bench build brings the worker.
freshet_log "building the control-plane host, the worker and bench/Freshet.Bench (Release)"
{ dotnet build "$repo_root/src/Freshet.ControlPlane.Host" -c Release -nologo -v quiet \
    && dotnet build "$repo_root/bench/Freshet.Bench" -c Release -nologo -v quiet; } >"$log" 2>&1 \
    || { cat "$log" >&2; freshet_die "the Release build failed (log above)"; }
rm -f "$log"
dotnet "$repo_root/bench/Freshet.Bench/bin/Release/net10.0/Freshet.Bench.dll" failover "$@"
