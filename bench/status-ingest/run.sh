#!/usr/bin/env bash
# bench/run status-ingest — the status store's ingest: 10,000 pipelines reporting every 5 s (2,000 reports/s) for 2 min.
#
# Starts its own PostgreSQL cluster; drives StatusStore in process as 100 workers of 100 pipelines, each sending its
# batch on its own schedule. Ingest lag: from a batch's scheduled send to its commit (visible to the API from then on).
# Baseline, same run: the same batches at the same pace INSERTed as plain jsonb rows.
# Environment: BENCH_PIPELINES (10000), BENCH_PIPELINES_PER_WORKER (100), BENCH_REPORT_INTERVAL_S (5), BENCH_SECONDS
# (120), BENCH_BASELINE_SECONDS (30), BENCH_KEEP.
# Last line: BENCH status-ingest reports_per_s=… p99_s=… backlog_end=… db_mb_per_day=… series_mb_per_day=… p50_s=… baseline_p99_s=…
#            baseline_reports_per_s=… pipelines=… busy_before_pct=…
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/dataplane.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/dataplane.sh"
bench_dataplane_main status-ingest "$@"
