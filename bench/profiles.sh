#!/usr/bin/env bash
# Release profile settings, chosen by measurement: builds `portcullis` twice — with
# cargo's default release settings (no LTO, 16 codegen units, symbols kept; set through
# CARGO_PROFILE_RELEASE_*), and with the workspace's `[profile.release]` (fat LTO, one
# codegen unit, stripped symbols) — then compares binary size,
# start to first answer (median of 5) and GET /session req/s with a JWT (wrk on
# loopback, -t2 -c16 -d10s, rounds interleaved, medians). Stops by itself.
#
#   bench/profiles.sh [ROUNDS=3]
#
# Build directories: $HOME/.cache/portcullis/bench-profiles/{default,lto}.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds="${1:-3}"
dirs="$HOME/.cache/portcullis/bench-profiles"
command -v wrk >/dev/null || { echo "bench/profiles.sh: wrk is missing (apt-get install wrk)" >&2; exit 2; }

echo "==> building: cargo's default release settings" >&2
CARGO_TARGET_DIR="$dirs/default" CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_STRIP=none \
    cargo build --release --locked -q -p portcullis-server --bin portcullis
echo "==> building: the workspace's [profile.release] (lto = fat, codegen-units = 1, strip)" >&2
CARGO_TARGET_DIR="$dirs/lto" cargo build --release --locked -q -p portcullis-server --bin portcullis

python3 - "$dirs" "$rounds" <<'PY'
import http.cookiejar, json, os, shutil, statistics, subprocess, sys, tempfile, time
import urllib.parse, urllib.request

dirs, rounds = sys.argv[1], int(sys.argv[2])
variants = {"default": 3971, "lto": 3972}
scratch = tempfile.mkdtemp()
secret = os.urandom(32).hex()
binary = {v: os.path.join(dirs, v, "release", "portcullis") for v in variants}
password = "bench-password"
hash_ = subprocess.run([binary["default"], "hash-password"], input=password + "\n",
                       capture_output=True, text=True, check=True).stdout.strip()
users = os.path.join(scratch, "users.toml")
with open(users, "w") as f:
    f.write(f'[[users]]\nusername = "bench"\npassword_hash = "{hash_}"\nname = "Bench"\n')

def config(variant, port):
    path = os.path.join(scratch, f"{variant}.toml")
    with open(path, "w") as f:
        f.write(f'url = "http://127.0.0.1:{port}/api/auth"\nlisten = "127.0.0.1:{port}"\n'
                f'secret = "{secret}"\ndata_dir = "{scratch}/{variant}"\n'
                f'[[providers]]\ntype = "credentials"\nid = "credentials"\n'
                f'name = "Credentials"\nusers_file = "{users}"\n')
    return path

def up(url):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.0005)

def start_ms(variant, port):
    times = []
    for _ in range(5):
        began = time.monotonic()
        p = subprocess.Popen([binary[variant], "serve", "--config", config(variant, port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        up(f"http://127.0.0.1:{port}/api/auth/csrf")
        times.append((time.monotonic() - began) * 1000)
        p.terminate()
        p.wait()
    return statistics.median(times)

starts = {v: start_ms(v, port) for v, port in variants.items()}
servers, cookies = {}, {}
for v, port in variants.items():
    servers[v] = subprocess.Popen([binary[v], "serve", "--config", config(v, port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/auth"
    up(f"{base}/csrf")
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    csrf = json.load(opener.open(f"{base}/csrf"))["csrfToken"]
    form = urllib.parse.urlencode({"csrfToken": csrf, "username": "bench",
                                   "password": password, "json": "true"}).encode()
    opener.open(f"{base}/callback/credentials", data=form).read()
    cookies[v] = next(f"{c.name}={c.value}" for c in jar if c.name == "next-auth.session-token")
rps = {v: [] for v in variants}
try:
    for _ in range(rounds):
        for v, port in variants.items():
            out = subprocess.run(["wrk", "-t2", "-c16", "-d10s", "-H", f"Cookie: {cookies[v]}",
                                  f"http://127.0.0.1:{port}/api/auth/session"],
                                 capture_output=True, text=True, check=True).stdout
            if "Non-2xx" in out:
                sys.exit(f"{v} answered non-2xx:\n{out}")
            rps[v].append(float(next(l.split()[1] for l in out.splitlines()
                                     if l.startswith("Requests/sec"))))
finally:
    for p in servers.values():
        p.terminate()
        p.wait()
    shutil.rmtree(scratch)

print(f"| release profile | binary | start (median of 5) | GET /session req/s (median of {rounds}) |")
print("|---|---|---|---|")
for v in variants:
    size = os.path.getsize(binary[v]) // 1024
    print(f"| {v} | {size} KiB | {starts[v]:.1f} ms | {statistics.median(rps[v]):.0f} |")
print(f"\nrounds: {rps}; load {open('/proc/loadavg').read().split()[:3]}")
PY
