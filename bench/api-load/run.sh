#!/usr/bin/env bash
# bench/run api-load — API latency and throughput with 1,000 pipelines in one tenant.
#
# Starts its own PostgreSQL cluster and a Release build of the control plane (all roles) on free loopback
# ports, creates 1,000 pipelines through the API, then drives a paced load of REST reads with wrk: half
# list pages (/v1/pipelines?page_size=50, walking a few pages), half reads by id (/v1/pipelines/{id}),
# every request authenticated with a client-credentials token and going through tenancy checks, RLS and
# rate limiting like any other. Baselines measured in the same run against the same server:
#   - /health/live at the same pace: the cost of the HTTP stack alone (no auth, no database);
#   - closed-loop (unpaced) throughput of the same API mix: the ceiling on this machine.
# Environment: BENCH_RATE (target requests/s, default 200), BENCH_SECONDS (default 30).
# Last line: BENCH api-load rps=… p50_ms=… p99_ms=… errors=… baseline_p99_ms=… max_rps=…
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
# shellcheck source=../../infra/lib/common.sh
source "$REPO_ROOT/infra/lib/common.sh"

RATE="${BENCH_RATE:-200}"
SECONDS_TO_RUN="${BENCH_SECONDS:-30}"
PIPELINES=1000
CONNECTIONS=20 # wrk connections; each paces itself to RATE/CONNECTIONS requests per second

freshet_ensure_packages postgresql wrk curl jq
freshet_ensure_dotnet

WORK="$(mktemp -d /tmp/freshet-bench-api-XXXXXX)"
chmod 755 "$WORK" # the postgres user must reach the cluster folder inside
PG_DIR="$WORK/pg"
PG_PORT="$(freshet_free_port)"
API_PORT="$(freshet_free_port)"
API="http://127.0.0.1:$API_PORT"
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    freshet_pg_stop "$PG_DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

SUPER_PASSWORD="$(freshet_random_secret)"
freshet_pg_init "$PG_DIR" "$SUPER_PASSWORD" >/dev/null
freshet_pg_start "$PG_DIR" "$PG_PORT" "$WORK/postgresql.log" >/dev/null
PGPASSWORD="$SUPER_PASSWORD" psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c 'CREATE DATABASE freshet'

export ConnectionStrings__ControlAdmin="Host=127.0.0.1;Port=$PG_PORT;Database=freshet;Username=postgres;Password=$SUPER_PASSWORD"
export ConnectionStrings__Control="Host=127.0.0.1;Port=$PG_PORT;Database=freshet;Username=freshet_app;Password=bench-app-password"
export Freshet__Secrets__MasterKey="$(freshet_random_key_base64)"
export Freshet__DuckDb__Root="$WORK/duckdb"
export Freshet__Connections__AllowPrivateNetworks=true
# The benchmark measures the API, not the limiter: lift the per-tenant limit above the load.
export Freshet__Api__RateLimitPerSecond=100000 Freshet__Api__RateLimitBurst=1000000
export Logging__LogLevel__Default=Warning

freshet_log "building the control plane (Release)"
dotnet build "$REPO_ROOT/src/Freshet.ControlPlane.Host" -c Release -nologo -v quiet >/dev/null
HOST_DLL="$REPO_ROOT/src/Freshet.ControlPlane.Host/bin/Release/net10.0/Freshet.ControlPlane.Host.dll"
dotnet "$HOST_DLL" migrate >/dev/null
dotnet "$HOST_DLL" seed-demo --credentials-out "$WORK/credentials.json" --api-url "$API" \
    --demo-source "$ConnectionStrings__ControlAdmin" >/dev/null
dotnet "$HOST_DLL" --urls "$API" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
freshet_wait_http "$API/health/ready" 60 "$SERVER_PID"

CLIENT_ID="$(jq -r '.tenants[0].clientId' "$WORK/credentials.json")"
CLIENT_SECRET="$(jq -r '.tenants[0].clientSecret' "$WORK/credentials.json")"
TOKEN="$(curl -sf -d grant_type=client_credentials -d "client_id=$CLIENT_ID" -d "client_secret=$CLIENT_SECRET" "$API/connect/token" | jq -r .access_token)"
AUTH="Authorization: Bearer $TOKEN"

freshet_log "creating $PIPELINES pipelines through the API"
FIRST="$(curl -sf -H "$AUTH" "$API/v1/pipelines" | jq -c '.items[0]')"
SOURCE="$(jq -r .source_connection_id <<<"$FIRST")"
DESTINATION="$(jq -r .destination_connection_id <<<"$FIRST")"
seq 2 "$PIPELINES" | xargs -P 4 -I{} curl -sf -o /dev/null -H "$AUTH" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench pipeline {}\",\"source_connection_id\":\"$SOURCE\",\"destination_connection_id\":\"$DESTINATION\",\"tables\":[{\"schema\":\"public\",\"name\":\"orders\"},{\"schema\":\"public\",\"name\":\"order_items\"}]}" \
    "$API/v1/pipelines"

# Ids and page tokens for the load script: every pipeline id, and the tokens of the first pages.
: >"$WORK/paths.txt"
token=""
for _ in $(seq 1 20); do
    page="$(curl -sf -H "$AUTH" "$API/v1/pipelines?page_size=50${token:+&page_token=$token}")"
    jq -r '.items[].id | "/v1/pipelines/" + .' <<<"$page" >>"$WORK/ids.txt"
    echo "/v1/pipelines?page_size=50${token:+&page_token=$token}" >>"$WORK/paths.txt"
    token="$(jq -r '.next_page_token // empty' <<<"$page")"
    [[ -z "$token" ]] && break
done
COUNT="$(wc -l <"$WORK/ids.txt")"
((COUNT == PIPELINES)) || freshet_die "expected $PIPELINES pipelines listed, found $COUNT"
# Mix: as many reads by id as list pages.
shuf -n "$(wc -l <"$WORK/paths.txt")" "$WORK/ids.txt" >>"$WORK/paths.txt"
shuf "$WORK/ids.txt" | head -200 >>"$WORK/paths.txt"

run_wrk() { # $1 = label, $2 = delay ms per connection (0: closed loop), $3 = paths file
    BENCH_DELAY_MS="$2" BENCH_PATHS="$3" BENCH_AUTH="$AUTH" \
        wrk -t 2 -c "$CONNECTIONS" -d "${SECONDS_TO_RUN}s" --timeout 5s -s "$SCRIPT_DIR/load.lua" "$API" \
        | tee "$WORK/$1.txt" | grep -E '^(RESULT|Requests/sec|Non-2xx|Socket errors)' || true
}

# wrk waits the delay after each response, so a connection's cycle is delay + latency: subtract the typical
# latency (about 7 ms here) so the offered rate lands near RATE.
DELAY_MS=$(((1000 * CONNECTIONS) / RATE - 7))
echo /health/live >"$WORK/health.txt"
freshet_log "warm-up"
BENCH_SECONDS_SAVE=$SECONDS_TO_RUN; SECONDS_TO_RUN=5; run_wrk warmup 0 "$WORK/paths.txt" >/dev/null; SECONDS_TO_RUN=$BENCH_SECONDS_SAVE
freshet_log "baseline: /health/live at ~$RATE req/s"
run_wrk baseline "$DELAY_MS" "$WORK/health.txt"
freshet_log "API mix at ~$RATE req/s ($COUNT pipelines in the tenant)"
run_wrk paced "$DELAY_MS" "$WORK/paths.txt"
freshet_log "API mix, closed loop (ceiling)"
run_wrk max 0 "$WORK/paths.txt"

field() { grep '^RESULT' "$WORK/$1.txt" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
PEAK_RSS_MB=$(( $(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status") / 1024 ))
echo "BENCH api-load rps=$(field paced rps) p50_ms=$(field paced p50_ms) p99_ms=$(field paced p99_ms) errors=$(field paced errors) pipelines=$COUNT baseline_p99_ms=$(field baseline p99_ms) max_rps=$(field max rps) max_p99_ms=$(field max p99_ms) peak_rss_mb=$PEAK_RSS_MB"
