#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 60) and fails if any of them finds a crash,
# a leak, a timeout or an out-of-memory. New inputs libFuzzer finds go to a scratch copy;
# the committed seed corpora (fuzz/corpus/<target>/) are read, never written.
#
#   fuzz/smoke.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo +nightly install cargo-fuzz --locked`).
# Each target runs as one single-threaded process; set NICE=10 to lower its priority.
set -euo pipefail

cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
nice_level="${NICE:-0}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

nice -n "$nice_level" cargo +nightly fuzz build

failed=()
printf '%-22s %12s %10s %8s %s\n' target executions exec/s seconds result
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target" "artifacts/$target"
    log="$scratch/$target.log"
    status=0
    nice -n "$nice_level" cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
    took="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)"
    if [ "$status" -eq 0 ] && grep -q '^Done ' "$log"; then
        result=ok
    else
        result="FAILED (exit $status)"
        failed+=("$target")
        grep -E 'ERROR: libFuzzer|panicked at|SUMMARY|Test unit written to' "$log" || tail -n 20 "$log"
    fi
    printf '%-22s %12s %10s %8s %s\n' "$target" "${runs:-?}" "${rate:-?}" "${took:-?}" "$result"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "crashing targets: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
