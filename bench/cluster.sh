#!/usr/bin/env bash
# Three Portcullis instances on one PostgreSQL database and one Redis, under wrk, on
# loopback (issue 15): GET /session with a JWT session (twice, to see whether memory
# grows), the same mixed with credentials sign-ins (one request in SIGNIN_EVERY), and
# GET /session with a database session (Redis caching the lookup). Each instance gets a
# third of the connections (wrk cannot spread one run over several addresses; a load
# balancer would). Reports throughput, latency percentiles (the worst instance's), errors
# (non-2xx answers and socket errors; any fails the script) and each instance's RSS.
# Stops by itself.
#
#   bench/cluster.sh [SECONDS_PER_RUN=60] [CONNECTIONS=256] [SIGNIN_EVERY=1000]
#
# PORTCULLIS_BIN: a release binary to use instead of building one. Needs wrk (Debian:
# apt-get install wrk), PostgreSQL and Redis (`bash .ci/services`; database
# `portcullis_cluster` is made anew, Redis keys go under a prefix of their own and are
# deleted after), and `.ci/smtp`'s SMTP server for the database session's e-mail link.
# docs/scaling.md has the figures of a run and how to read them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

seconds="${1:-60}"
connections="${2:-256}"
signin_every="${3:-1000}"
users=2000
ports=(4001 4002 4003)
scratch="$(mktemp -d)"
prefix="portcullis-bench-$$:"
pids=()
stop_instances() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_instances
    if [ "${failed:-0}" != 0 ]; then
        mkdir -p "$HOME/.cache/portcullis/bench/cluster-logs"
        cp "$scratch"/log-* "$HOME/.cache/portcullis/bench/cluster-logs/" 2>/dev/null || true
        echo "the instances' logs: $HOME/.cache/portcullis/bench/cluster-logs" >&2
    fi
    redis-cli -h 127.0.0.1 --scan --pattern "${prefix}*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench/cluster.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }
bash .ci/services >&2
eval "$(bash .ci/smtp)"
pg_admin="postgres://postgres@127.0.0.1:5432/postgres"
database="postgres://postgres@127.0.0.1:5432/portcullis_cluster"
psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS portcullis_cluster WITH (FORCE)" \
    -c "CREATE DATABASE portcullis_cluster"

portcullis="${PORTCULLIS_BIN:-}"
if [ -z "$portcullis" ]; then
    echo "==> building (release)" >&2
    cargo build --release --locked -q -p portcullis-server --bin portcullis
    portcullis="${CARGO_TARGET_DIR:-target}/release/portcullis"
fi

secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
password="bench-password"
hash="$(printf '%s\n' "$password" | "$portcullis" hash-password)"
for i in $(seq 0 $((users - 1))); do
    printf '[[users]]\nusername = "bench-%s"\npassword_hash = "%s"\nemail = "bench-%s@example.com"\n\n' \
        "$i" "$hash" "$i"
done > "$scratch/users.toml"

# The configuration all three instances share: strategy `jwt` or `database`.
write_config() {
    local strategy="$1" providers
    if [ "$strategy" = jwt ]; then
        providers=$'[[providers]]\ntype = "credentials"\nid = "credentials"\nname = "Credentials"\n'
        providers+="users_file = \"$scratch/users.toml\""
    else
        providers=$'[[providers]]\ntype = "email"\nid = "email"\nname = "Email"\n'
        providers+="smtp = \"$PORTCULLIS_TEST_SMTP_URL\""$'\nfrom = "Bench <bench@example.com>"'
    fi
    cat > "$scratch/portcullis.toml" <<EOF
url = "http://127.0.0.1:4000/api/auth"
secret = "$secret"
database = "$database"
throttle_shared = true
trusted_proxies = ["127.0.0.0/8"]

[redis]
url = "redis://127.0.0.1:6379"
prefix = "$prefix"

[session]
strategy = "$strategy"

$providers
EOF
}


rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
rss_all() { local out="" pid; for pid in "${pids[@]}"; do out+="$(rss_mib "$pid") "; done; echo "$out"; }

start_instances() {
    write_config "$1"
    local port
    for port in "${ports[@]}"; do
        PORTCULLIS_LISTEN="127.0.0.1:$port" PORTCULLIS_LOG=info \
            "$portcullis" serve --config "$scratch/portcullis.toml" 2>>"$scratch/log-$port" &
        pids+=($!)
        # One at a time: the first applies the migrations.
        wait_up "http://127.0.0.1:$port/api/auth/csrf"
    done
}

# A CSRF cookie and token from instance 1 (any instance accepts them: one secret).
csrf() {
    local jar="$scratch/jar"
    csrf_token="$(curl -sf -c "$jar" -b "$jar" "http://127.0.0.1:${ports[0]}/api/auth/csrf" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrfToken"])')"
    csrf_cookie="next-auth.csrf-token=$(awk '$6 == "next-auth.csrf-token" {print $7}' "$jar")"
}

session_cookie_jwt() {
    csrf
    local jar="$scratch/jar"
    curl -sf -o /dev/null -c "$jar" -b "$jar" "http://127.0.0.1:${ports[0]}/api/auth/callback/credentials" \
        -H "X-Forwarded-For: 192.0.2.1" \
        -d "csrfToken=$csrf_token" -d username=bench-0 -d "password=$password" -d json=true
    echo "next-auth.session-token=$(awk '$6 == "next-auth.session-token" {print $7}' "$jar")"
}

session_cookie_database() {
    csrf
    local jar="$scratch/jar" address="bench-db-$$@example.com" link
    curl -sf -o /dev/null -c "$jar" -b "$jar" "http://127.0.0.1:${ports[1]}/api/auth/signin/email" \
        -d "csrfToken=$csrf_token" -d "email=$address" -d json=true
    link="$(mailed_link "$address")"
    # The link names the public URL (port 4000); redeem it on instance 3.
    curl -sf -o /dev/null -c "$jar" -b "$jar" "${link/:4000/:${ports[2]}}"
    echo "next-auth.session-token=$(awk '$6 == "next-auth.session-token" {print $7}' "$jar")"
}

# One run: three wrk at once, one per instance. Prints a Markdown row; fails on errors.
run() {
    local label="$1" cookie="$2" every="$3" i pid
    local loads=()
    for i in 0 1 2; do
        SEED="$((RANDOM * 3 + i))" \
            SESSION_COOKIE="$cookie" SIGNIN_EVERY="$every" USERS="$users" PASSWORD="$password" \
            CSRF_COOKIE="$csrf_cookie" CSRF_TOKEN="$csrf_token" \
            wrk -t1 "-c$((connections / 3))" "-d${seconds}s" -s bench/wrk/cluster.lua \
            "http://127.0.0.1:${ports[$i]}" > "$scratch/wrk-$i" &
        loads+=($!)
    done
    for pid in "${loads[@]}"; do wait "$pid"; done
    python3 - "$label" "$scratch"/wrk-0 "$scratch"/wrk-1 "$scratch"/wrk-2 <<'PY'
import json, sys
label, files = sys.argv[1], sys.argv[2:]
runs = [json.loads(next(l for l in open(f) if l.startswith("{"))) for f in files]
rps = sum(r["requests"] / r["seconds"] for r in runs)
worst = lambda k: max(r[k] for r in runs)
non2xx = sum(r["non2xx"] for r in runs)
socket = sum(r["socket_errors"] for r in runs)
errors = non2xx + socket
print(f"| {label} | {rps:,.0f} | {worst('p50_ms'):.2f} | {worst('p99_ms'):.2f} | "
      f"{worst('p999_ms'):.2f} | {worst('max_ms'):.1f} | {non2xx} / {socket} |")
sys.exit(1 if errors else 0)
PY
}

echo "| run (${seconds} s, ${connections} connections over 3 instances) | req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors: non-2xx / socket |"
echo "|---|---|---|---|---|---|---|"
failed=0

start_instances jwt
csrf_cookie="" csrf_token=""
jwt_cookie="$(session_cookie_jwt)"
csrf
rss_start="$(rss_all)"
run "GET /session, JWT" "$jwt_cookie" 0 || failed=1
rss_run1="$(rss_all)"
run "GET /session, JWT (again)" "$jwt_cookie" 0 || failed=1
rss_run2="$(rss_all)"
run "mixed: JWT reads, 1 in $signin_every a credentials sign-in" "$jwt_cookie" "$signin_every" || failed=1
rss_mixed="$(rss_all)"
hwm_jwt=""; for pid in "${pids[@]}"; do hwm_jwt+="$(hwm_mib "$pid") "; done
stop_instances

start_instances database
csrf
db_cookie="$(session_cookie_database)"
run "GET /session, database session (Redis cache)" "$db_cookie" 0 || failed=1
hwm_db=""; for pid in "${pids[@]}"; do hwm_db+="$(hwm_mib "$pid") "; done
rss_db="$(rss_all)"
stop_instances

echo
echo "RSS per instance, MiB (instances 1 2 3):"
echo "- JWT: at start $rss_start| after run 1 $rss_run1| after run 2 $rss_run2| after the mixed run $rss_mixed| peak $hwm_jwt"
echo "- database sessions: after the run $rss_db| peak $hwm_db"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); binary $(du -k "$portcullis" | cut -f1) KiB"
exit "$failed"
