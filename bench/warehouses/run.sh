#!/usr/bin/env bash
# bench/run warehouses — PostgreSQL → the warehouse emulators through a real worker process (issue 8).
#
# Starts its own PostgreSQL cluster (bench/lib/dataplane.sh), the Snowflake and BigQuery emulators inside the harness,
# and Release builds of the worker as separate processes. For each warehouse: 1,000,000 rows streamed (100 transactions
# of 10,000, after 100,000 warm-up rows) — rows/s from the first insert to the slot's acknowledgement of the last commit,
# and requests per destination batch (Snowflake: SQL API requests and statements; BigQuery: AppendRows requests and
# query jobs); baseline in the same run: the same rows through the destination's own client alone (no engine) —
# Snowflake's SQL API client in requests as large as the request limit allows, BigQuery's Storage Write client as CDC
# UPSERTs — plus DuckDB inserting them into the Snowflake emulator's storage directly. Then a trickle (5 one-row
# transactions a second for 120 s) at batch_latency_target_s=1 and =30: Snowflake statements and BigQuery query jobs
# per minute. About 25 minutes on 2 cores, most of it the emulators applying rows.
# Environment: BENCH_TRANSACTIONS (100), BENCH_ROWS_PER_TRANSACTION (10000), BENCH_WARMUP_ROWS (100000),
# BENCH_STREAM_LATENCY_TARGET_S (1), BENCH_TRICKLE_SECONDS (120), BENCH_TRICKLE_ROWS_PER_S (5), BENCH_KEEP (keep the
# scratch folder and the worker logs), BENCH_WORKER_ENV_X=v (sets X=v for the worker only).
# Quick run (3–4 minutes; the 30 s figures are then 0): BENCH_TRANSACTIONS=10 BENCH_WARMUP_ROWS=0 BENCH_TRICKLE_SECONDS=10 bench/run warehouses
# Last line: BENCH warehouses snowflake_rows_per_s=… bigquery_rows_per_s=… statements_per_min_1s=… statements_per_min_30s=… …
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/dataplane.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/dataplane.sh"
bench_dataplane_main warehouses "$@"
