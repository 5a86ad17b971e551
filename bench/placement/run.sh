#!/usr/bin/env bash
# bench/run placement — the scheduler's placement at scale, in process: 10,000 pipelines over 500 simulated workers
# (reconcile time, balance), then 50 workers join (pipelines moved against the least needed). No database or worker
# is started. BENCH_PIPELINES, BENCH_WORKERS and BENCH_JOINING_WORKERS change the sizes.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../infra/lib/common.sh
source "$repo_root/infra/lib/common.sh"
freshet_ensure_dotnet

log="$(mktemp /tmp/freshet-bench-placement-build-XXXXXX.log)"
freshet_log "building bench/Freshet.Bench (Release)"
dotnet build "$repo_root/bench/Freshet.Bench" -c Release -nologo -v quiet >"$log" 2>&1 \
    || { cat "$log" >&2; freshet_die "the Release build failed (log above)"; }
rm -f "$log"
dotnet "$repo_root/bench/Freshet.Bench/bin/Release/net10.0/Freshet.Bench.dll" placement "$@"
