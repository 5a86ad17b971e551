# shellcheck shell=bash
# Shared by the benchmarks that run a worker process (bench/lib/dataplane.sh, bench/mysql-stream). Source it, then
#   bench_worker_dll REPO_ROOT SCRATCH_DIR
# prints the path of the worker build to measure:
# - BENCH_WORKER_DLL_OVERRIDE set: that file (another build, for a comparison);
# - BENCH_WORKER_BUILD=plain: the Release build `dotnet build` made (JIT-compiled at run time);
# - otherwise (BENCH_WORKER_BUILD=image, the default): the worker published as the image publishes it (see the
#   Dockerfile: ReadyToRun for this machine's platform, framework-dependent), into SCRATCH_DIR/worker. A benchmark
#   measures what is shipped: the image's worker starts precompiled, where a plain build spends its first second and
#   a core on the JIT (bench/run mysql-stream measured a catch-up's first commit at 0.9 s against 1.5-2.0 s).
# The publish log goes to SCRATCH_DIR/worker-publish.log; a failed publish stops the benchmark with it.

bench_worker_dll() {
    local repo_root="$1" scratch="$2"
    if [[ -n "${BENCH_WORKER_DLL_OVERRIDE:-}" ]]; then
        echo "$BENCH_WORKER_DLL_OVERRIDE"
        return
    fi

    case "${BENCH_WORKER_BUILD:-image}" in
    plain)
        echo "$repo_root/src/Freshet.DataPlane.Worker/bin/Release/net10.0/Freshet.DataPlane.Worker.dll"
        ;;
    image)
        local rid
        case "$(uname -m)" in
        x86_64) rid=linux-x64 ;;
        aarch64) rid=linux-arm64 ;;
        *) freshet_die "no ReadyToRun runtime identifier for $(uname -m): run with BENCH_WORKER_BUILD=plain" ;;
        esac
        freshet_log "publishing the worker as the image does (ReadyToRun, $rid)" >&2
        # The Dockerfile's restore and publish, with the output in the scratch folder.
        if ! {
            dotnet restore "$repo_root/src/Freshet.DataPlane.Worker/Freshet.DataPlane.Worker.csproj" --runtime "$rid" \
                -p:PublishReadyToRun=true \
                && dotnet publish "$repo_root/src/Freshet.DataPlane.Worker/Freshet.DataPlane.Worker.csproj" --configuration Release \
                    --no-restore --runtime "$rid" --self-contained false -p:PublishReadyToRun=true -p:UseAppHost=false \
                    --output "$scratch/worker"
        } >"$scratch/worker-publish.log" 2>&1; then
            cat "$scratch/worker-publish.log" >&2
            freshet_die "publishing the worker failed (log above)"
        fi
        echo "$scratch/worker/Freshet.DataPlane.Worker.dll"
        ;;
    *)
        freshet_die "BENCH_WORKER_BUILD must be image (the default) or plain, not '${BENCH_WORKER_BUILD}'"
        ;;
    esac
}
