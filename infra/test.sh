#!/usr/bin/env bash
# Runs the whole test suite: `dotnet test ControlPlane.sln -c Release`, i.e. every test project of the
# solution (architecture, control-plane API, data plane), then prints one line per test assembly and one
# summary line
#
#   N passed, N failed, N skipped
#
# summed over the TRX files of every test assembly. Exits non-zero when the build or any test fails, or
# when no test ran at all. The test fixtures start their own throwaway servers (PostgreSQL, ...) from the
# installed packages, and the data-plane tests start worker processes (`dotnet Freshet.DataPlane.Worker.dll`,
# built beside them); this script only makes sure the packages and `dotnet` are there.
#
#   ./infra/test.sh [extra dotnet test arguments, e.g. --filter FullyQualifiedName~Pipelines]
#
# Environment (optional):
#   FRESHET_TEST_RESULTS_DIR   where the TRX files go (default <repo>/TestResults, emptied first)
#   FRESHET_TEST_HANG_TIMEOUT  a test assembly in which no test starts or ends for this long is stopped and
#                              counted as failed (default 10m; dotnet test --blame-hang-timeout syntax)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"

# Debian packages the tests need; the fixtures start their servers from these binaries. One list, so a
# fresh CI machine installs everything in one apt run: add an entry when a test starts needing a server.
TEST_PACKAGES=(
    postgresql # control database; PostgreSQL source and destination (logical replication)
    rabbitmq-server # MassTransit over RabbitMQ: the worker-pool tests start a private node
    mariadb-server # MySQL/MariaDB binlog source: the fixtures start a private server with the binlog on
    chromium # web console browser tests (Playwright drives /usr/bin/chromium)
    openssl # the TLS MariaDB fixture makes its CA and certificates; the Snowflake key-pair tests check fingerprints against it
)

RESULTS_DIR="${FRESHET_TEST_RESULTS_DIR:-$REPO_ROOT/TestResults}"
HANG_TIMEOUT="${FRESHET_TEST_HANG_TIMEOUT:-10m}"

freshet_ensure_packages "${TEST_PACKAGES[@]}"
freshet_pg_bin >/dev/null # fails clearly if the installed PostgreSQL is older than 15
cd "$REPO_ROOT"           # so that `dotnet` resolves the SDK through the repository's global.json
# Also puts `dotnet` on PATH (exported) when it lives in a usual folder: the data-plane tests start
# `dotnet Freshet.DataPlane.Worker.dll` themselves.
freshet_ensure_dotnet

# `dotnet test ControlPlane.sln` runs only the test projects the solution lists: one left out would
# silently never run.
missing_projects=()
while IFS= read -r -d '' project; do
    if grep -q '<IsTestProject>true</IsTestProject>' "$project" \
        && ! grep -qF "\"${project//\//\\}\"" ControlPlane.sln; then
        missing_projects+=("$project")
    fi
done < <(find tests -name '*.csproj' -not -path '*/bin/*' -not -path '*/obj/*' -print0)
if ((${#missing_projects[@]} > 0)); then
    freshet_die "test projects missing from ControlPlane.sln: ${missing_projects[*]}." \
        "Add each with: dotnet sln ControlPlane.sln add --solution-folder tests PROJECT"
fi

# Results of an earlier run must not be counted again.
rm -rf "$RESULTS_DIR"
mkdir -p "$RESULTS_DIR"

# The default TRX file name is made unique per test assembly by the logger (an explicit LogFileName would
# be shared, and overwritten, by all assemblies of the solution).
# --blame-hang-timeout bounds a stuck test (a worker process or a server that never answers): without dump
# (none), its test host and child processes are stopped, the remaining tests of that assembly do not run,
# and the run fails instead of hanging.
# -m:1 runs the test assemblies one after another. The worker-pool tests hold real processes to timing bounds
# (a drain pauses delivery at most 2 s); run beside the data-plane assembly on 2 cores, they failed those bounds
# in three full runs out of three while passing alone, and the suite takes only a minute or two longer this way.
test_rc=0
started=$SECONDS
dotnet test ControlPlane.sln -m:1 -c Release --results-directory "$RESULTS_DIR" --logger trx \
    --blame-hang-timeout "$HANG_TIMEOUT" --blame-hang-dump-type none "$@" || test_rc=$?
elapsed=$((SECONDS - started))

# Sum the <Counters .../> element of each TRX file. Skipped tests are counted as notExecuted; errors,
# timeouts and aborted tests count as failures.
total_executed=0 total_passed=0 total_failed=0 total_skipped=0 trx_count=0
assembly_lines=()
counter() { # counter ELEMENT NAME: the value of attribute NAME, 0 when absent
    local value
    value="$(sed -n "s/.*[[:space:]]$2=\"\([0-9]*\)\".*/\1/p" <<<"$1")"
    printf '%s\n' "${value:-0}"
}
attribute() { # attribute ELEMENT NAME: the text value of attribute NAME, empty when absent
    sed -n "s/.*[[:space:]]$2=\"\([^\"]*\)\".*/\1/p" <<<"$1"
}
while IFS= read -r -d '' trx; do
    element="$(grep -o '<Counters [^>]*>' "$trx" | head -n1 || true)"
    if [[ -z "$element" ]]; then
        freshet_warn "no <Counters> element in $trx"
        continue
    fi
    trx_count=$((trx_count + 1))
    total="$(counter "$element" total)"
    executed="$(counter "$element" executed)"
    skipped="$(counter "$element" notExecuted)"
    if [[ "$element" != *' notExecuted="'* ]]; then
        skipped=$((total - executed))
    fi
    passed="$(counter "$element" passed)"
    failed=$(($(counter "$element" failed) + $(counter "$element" error) + $(counter "$element" timeout) \
        + $(counter "$element" aborted)))
    total_executed=$((total_executed + executed))
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))

    # Which assembly, and how long its tests ran (for spotting the slow ones): informational only.
    assembly="$(grep -o -m1 'codeBase="[^"]*"' "$trx" || true)"
    assembly="${assembly#codeBase=\"}"
    assembly="$(basename "${assembly%\"}" .dll)"
    times="$(grep -o -m1 '<Times [^>]*>' "$trx" || true)"
    start="$(attribute "$times" start)" finish="$(attribute "$times" finish)" duration="?"
    if [[ -n "$start" && -n "$finish" ]] && start_s="$(date -d "$start" +%s 2>/dev/null)" \
        && finish_s="$(date -d "$finish" +%s 2>/dev/null)"; then
        duration="$((finish_s - start_s))s"
    fi
    assembly_lines+=("  ${assembly:-${trx##*/}}: $passed passed, $failed failed, $skipped skipped ($duration)")
done < <(find "$RESULTS_DIR" -name '*.trx' -print0)

echo
echo "Test results: $trx_count TRX file(s) in $RESULTS_DIR, ${elapsed}s for build and tests"
if ((${#assembly_lines[@]} > 0)); then
    printf '%s\n' "${assembly_lines[@]}" | sort
fi
# The one summary line, alone on its line (CI reads it).
echo "$total_passed passed, $total_failed failed, $total_skipped skipped"

if ((test_rc != 0)); then
    freshet_log "dotnet test failed (exit code $test_rc)"
    exit "$test_rc"
fi
if ((total_failed > 0)); then
    freshet_log "$total_failed test(s) failed"
    exit 1
fi
if ((total_executed == 0)); then
    freshet_log "no test was executed"
    exit 1
fi
