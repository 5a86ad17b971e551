#!/usr/bin/env bash
# bench/run pg-snapshot — initial snapshot of a 5,000,000-row table, PostgreSQL → DuckDB, against COPY | COPY.
#
# Starts its own PostgreSQL cluster and a Release build of the worker (a separate process). Ours: from the worker's
# launch to the last snapshot chunk's done_at (read from the DuckDB file after the worker stopped). Baseline, same run,
# same table: `psql -c "COPY t TO STDOUT" | psql -c "COPY t FROM STDIN"` into an identical empty table (with its
# primary key) in another database of the same cluster, timed.
# Environment: BENCH_ROWS (5000000), BENCH_SNAPSHOT_CHUNK_ROWS (250000), BENCH_SNAPSHOT_PARALLELISM (2), BENCH_KEEP.
# Last line: BENCH pg-snapshot rows_per_s=… baseline_rows_per_s=… ratio=… peak_rss_mb=… end_to_end_rows_per_s=… chunk_rows=…
#            parallelism=… busy_before_pct=…
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/dataplane.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/dataplane.sh"
bench_dataplane_main pg-snapshot "$@"
