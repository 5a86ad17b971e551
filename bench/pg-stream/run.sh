#!/usr/bin/env bash
# bench/run pg-stream — streaming throughput, PostgreSQL → DuckDB, against pg_recvlogical reading the same changes.
#
# Starts its own PostgreSQL cluster and a Release build of the worker (a separate process). The worker first streams
# BENCH_WARMUP_ROWS (300,000, not counted: a worker in service runs optimized code, a process seconds old still JITs),
# then streams while one session inserts 1,000,000 rows as 100 transactions of 10,000;
# ours = rows / (last row's destination commit − the moment before the first insert). Baseline, measured in the same
# run after the worker stopped: pg_recvlogical (pgoutput v1, binary) reading the same transactions from a second slot
# created before the load, to the load's end LSN, discarding the output. Then a catch-up run: 1,000,000 more rows
# loaded with the worker stopped, drained by a freshly started worker (the same situation as the baseline's).
# Environment: BENCH_TRANSACTIONS (100), BENCH_ROWS_PER_TRANSACTION (10000), BENCH_CATCHUP (1; 0 skips it),
# BENCH_MAX_BATCH_DELAY_MS (the latency target; default the delivery default, 200),
# BENCH_KEEP (keep the scratch folder and logs), BENCH_WORKER_ENV_X=v (sets X=v for the worker only, e.g. a runtime
# knob; Logging__LogLevel__Freshet=Debug logs each DuckDB apply's phases).
# Last line: BENCH pg-stream rows_per_s=… baseline_rows_per_s=… ratio=… peak_rss_mb=… acked_rows_per_s=… load_rows_per_s=…
#            catchup_rows_per_s=… catchup_ratio=… busy_before_pct=…
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/dataplane.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/dataplane.sh"
bench_dataplane_main pg-stream "$@"
