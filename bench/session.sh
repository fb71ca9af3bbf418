#!/usr/bin/env bash
# GET /session with a valid JWT cookie, under wrk, on loopback: Portcullis's release server
# beside the ceiling of its HTTP stack (a bare warp handler) and next-auth 4, interleaved
# round by round, medians reported. Also each server's RSS (idle, peak under load) and
# Portcullis's start time to its first answered request. Database sessions too, on sled and
# on PostgreSQL (the session from an e-mail link, delivered by `.ci/smtp`'s SMTP server).
# Stops by itself.
#
#   bench/session.sh [SECONDS_PER_RUN=10] [ROUNDS=3] [CONNECTIONS=16]
#
# Needs wrk (Debian: apt-get install wrk), PostgreSQL on 127.0.0.1:5432 (database
# `portcullis_bench` is made anew), Python 3, Node.js and npm (next-auth 4.24 is installed
# from npm into $HOME/.cache/portcullis/bench, never into the repository). Prints a
# Markdown table; docs/performance.md has the figures of a run and how to read them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

seconds="${1:-10}"
rounds="${2:-3}"
connections="${3:-16}"
cache="$HOME/.cache/portcullis/bench"
scratch="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "bench/session.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }
eval "$(bash .ci/smtp)"
pg_admin="postgres://postgres@127.0.0.1:5432/postgres"
psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS portcullis_bench" -c "CREATE DATABASE portcullis_bench"

echo "==> building (release)" >&2
cargo build --release --locked -q -p portcullis-server --bin portcullis --example bare_warp
target="${CARGO_TARGET_DIR:-target}/release"
portcullis="$target/portcullis"

echo "==> next-auth 4 from npm into $cache/nextauth4" >&2
mkdir -p "$cache/nextauth4"
cp bench/nextauth4/package.json "$cache/nextauth4/package.json"
(cd "$cache/nextauth4" && npm install --silent --no-audit --no-fund >/dev/null)

secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"


# Milliseconds from spawning `portcullis serve` to its first 200, median of 5 starts.
start_time_ms() {
    python3 - "$portcullis" "$1" "$2" <<'PY'
import os, statistics, subprocess, sys, time, urllib.request
binary, config, url = sys.argv[1:4]
times = []
for _ in range(5):
    began = time.monotonic()
    p = subprocess.Popen([binary, "serve", "--config", config],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.0005)
    times.append((time.monotonic() - began) * 1000)
    p.terminate()
    p.wait()
print(f"{statistics.median(times):.1f}")
PY
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# --- the servers -------------------------------------------------------------------------
declare -A url cookie pid idle

"$target/examples/bare_warp" 127.0.0.1:3990 & pids+=($!); pid[bare]=$!
url[bare]="http://127.0.0.1:3990/api/auth/session"; cookie[bare]=""

password="bench-password"
hash="$(printf '%s\n' "$password" | "$portcullis" hash-password)"
cat > "$scratch/users.toml" <<EOF
[[users]]
username = "bench"
password_hash = "$hash"
name = "Bench"
email = "bench@example.com"
EOF

# A Portcullis config with the credentials user: name, port, extra TOML.
write_config() {
    local name="$1" port="$2" extra="$3"
    mkdir -p "$scratch/$name"
    cat > "$scratch/$name/portcullis.toml" <<EOF
url = "http://127.0.0.1:$port/api/auth"
listen = "127.0.0.1:$port"
secret = "$secret"
data_dir = "$scratch/$name/data"
$extra
[[providers]]
type = "credentials"
id = "credentials"
name = "Credentials"
users_file = "$scratch/users.toml"
EOF
}

# Measured first, on its own port, while nothing else runs.
write_config start 3995 ""
started_ms="$(start_time_ms "$scratch/start/portcullis.toml" "http://127.0.0.1:3995/api/auth/csrf")"

# One Portcullis server: name, port, extra TOML, log filter.
portcullis_server() {
    local name="$1" port="$2" extra="$3" log="$4"
    write_config "$name" "$port" "$extra"
    PORTCULLIS_LOG="$log" "$portcullis" serve --config "$scratch/$name/portcullis.toml" \
        2>"$scratch/$name/log" & pids+=($!); pid[$name]=$!
    url[$name]="http://127.0.0.1:$port/api/auth/session"
    wait_up "http://127.0.0.1:$port/api/auth/csrf"
    local jar="$scratch/$name/jar" token
    token="$(curl -sf -c "$jar" -b "$jar" "http://127.0.0.1:$port/api/auth/csrf" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrfToken"])')"
    curl -sf -o /dev/null -c "$jar" -b "$jar" "http://127.0.0.1:$port/api/auth/callback/credentials" \
        -d "csrfToken=$token" -d username=bench -d "password=$password" -d json=true
    cookie[$name]="next-auth.session-token=$(awk '$6 == "next-auth.session-token" {print $7}' "$jar")"
}

# A Portcullis server with database sessions: name, port, extra TOML. The session comes
# from an e-mail link, read from the SMTP server's Maildir.
db_server() {
    local name="$1" port="$2" extra="$3" address="bench-$1@example.com"
    mkdir -p "$scratch/$name"
    cat > "$scratch/$name/portcullis.toml" <<EOF
url = "http://127.0.0.1:$port/api/auth"
listen = "127.0.0.1:$port"
secret = "$secret"
data_dir = "$scratch/$name/data"
$extra
[session]
strategy = "database"
[[providers]]
type = "email"
id = "email"
name = "Email"
smtp = "$PORTCULLIS_TEST_SMTP_URL"
from = "Bench <bench@example.com>"
EOF
    PORTCULLIS_LOG=info "$portcullis" serve --config "$scratch/$name/portcullis.toml" \
        2>"$scratch/$name/log" & pids+=($!); pid[$name]=$!
    url[$name]="http://127.0.0.1:$port/api/auth/session"
    wait_up "http://127.0.0.1:$port/api/auth/csrf"
    local jar="$scratch/$name/jar" token link
    token="$(curl -sf -c "$jar" -b "$jar" "http://127.0.0.1:$port/api/auth/csrf" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrfToken"])')"
    curl -sf -o /dev/null -c "$jar" -b "$jar" "http://127.0.0.1:$port/api/auth/signin/email" \
        -d "csrfToken=$token" -d "email=$address" -d json=true
    link="$(mailed_link "$address")"
    curl -sf -o /dev/null -c "$jar" -b "$jar" "$link"
    cookie[$name]="next-auth.session-token=$(awk '$6 == "next-auth.session-token" {print $7}' "$jar")"
}

portcullis_server jws 3991 "" "info"
portcullis_server jws-quiet 3992 "" "warn"
portcullis_server jwe 3994 $'[jwt]\nencryption = true' "info"
db_server db-sled 3996 ""
db_server db-postgres 3997 'database = "postgres://postgres@127.0.0.1:5432/portcullis_bench"'

export NEXTAUTH4_DIR="$cache/nextauth4" NEXTAUTH_SECRET="$secret"
PORT=3993 node bench/nextauth4/server.cjs & pids+=($!); pid[nextauth4]=$!
url[nextauth4]="http://127.0.0.1:3993/api/auth/session"
cookie[nextauth4]="next-auth.session-token=$(PORT=3993 node bench/nextauth4/server.cjs token)"
wait_up "http://127.0.0.1:3993/api/auth/csrf"

names=(bare jws jws-quiet jwe db-sled db-postgres nextauth4)
for name in "${names[@]}"; do
    body="$(curl -sf -H "Cookie: ${cookie[$name]}" "${url[$name]}")"
    if [ "$name" != bare ] && ! grep -q '"email":"bench[-a-z]*@example.com"' <<<"$body"; then
        echo "bench/session.sh: $name did not read the session: $body" >&2
        exit 1
    fi
    idle[$name]="$(rss_kib "${pid[$name]}")"
done

# --- the runs ----------------------------------------------------------------------------
declare -A results
for round in $(seq "$rounds"); do
    for name in "${names[@]}"; do
        args=(-t2 "-c$connections" "-d${seconds}s" --latency)
        [ -n "${cookie[$name]}" ] && args+=(-H "Cookie: ${cookie[$name]}")
        out="$(wrk "${args[@]}" "${url[$name]}")"
        if grep -q "Non-2xx" <<<"$out"; then
            echo "bench/session.sh: $name answered non-2xx:" >&2; echo "$out" >&2; exit 1
        fi
        rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
        results[$name]+="$rps "
        echo "round $round $name: $rps req/s (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bare="$(median <<<"${results[bare]}")"
nextauth="$(median <<<"${results[nextauth4]}")"
echo
echo "| server | req/s (median of $rounds) | of bare warp | × next-auth 4 | RSS idle | RSS peak |"
echo "|---|---|---|---|---|---|"
for name in "${names[@]}"; do
    m="$(median <<<"${results[$name]}")"
    awk -v n="$name" -v m="$m" -v b="$bare" -v na="$nextauth" \
        -v idle="${idle[$name]}" -v peak="$(hwm_kib "${pid[$name]}")" \
        'BEGIN { printf "| %s | %.0f | %.0f%% | %.1f× | %.1f MiB | %.1f MiB |\n", n, m, 100*m/b, m/na, idle/1024, peak/1024 }'
done
echo
echo "start to first answer (portcullis serve, median of 5): $started_ms ms"
echo "binary: $(du -k "$portcullis" | cut -f1) KiB; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
