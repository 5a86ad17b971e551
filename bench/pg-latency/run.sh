#!/usr/bin/env bash
# bench/run pg-latency — commit-to-destination latency at a steady 5,000 rows/s, PostgreSQL → DuckDB.
#
# Starts its own PostgreSQL cluster and a Release build of the worker (a separate process, default latency target).
# pgbench inserts 50 rows per transaction at 100 transactions/s (-R, Poisson-paced) for 60 s after a 5 s warm-up;
# latency per row = _freshet_synced_at − _freshet_committed_at, p50/p99 over every row of the measured minute (DuckDB
# quantile_cont, read after the worker stopped). No external baseline exists for this; the context printed is the
# source's achieved commit rate, pgbench's schedule lag, and the CPU of the worker and its walsender.
# Environment: BENCH_RATE (5000 rows/s), BENCH_SECONDS (60), BENCH_WARMUP_SECONDS (5), BENCH_KEEP.
# Last line: BENCH pg-latency rows_per_s=… p50_s=… p99_s=… peak_rss_mb=… max_s=… source_commit_rows_per_s=… busy_before_pct=…
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/dataplane.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/dataplane.sh"
bench_dataplane_main pg-latency "$@"
