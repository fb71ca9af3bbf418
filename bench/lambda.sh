#!/usr/bin/env bash
# portcullis-lambda under cargo-lambda's local emulator, on loopback: the cold start (from
# spawning the function to the answer of its first event, which the emulator holds until
# the function asks for it), a warm invocation's latency, and the function's memory after a
# sign-in and 200 session reads. Medians of 5 cold starts. Stops by itself.
#
#   bench/lambda.sh
#
# Needs cargo-lambda (`bash .ci/lambda` installs it). Prints a Markdown table;
# docs/performance.md has the figures of a run and how to read them.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(bash .ci/lambda)"
echo "==> building (release)" >&2
cargo build --release --locked -q -p portcullis-lambda -p portcullis-server --bin portcullis-lambda --bin portcullis
target="${CARGO_TARGET_DIR:-target}/release"

python3 - "$PORTCULLIS_TEST_CARGO_LAMBDA" "$target/portcullis-lambda" "$target/portcullis" <<'PY'
import http.cookiejar, json, os, re, socket, statistics, subprocess, sys, tempfile, time
import urllib.parse, urllib.request

cargo_lambda, function, server = sys.argv[1:4]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
emulator = subprocess.Popen(
    [cargo_lambda, "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)],
    cwd="apps/lambda", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
env = {}
deadline = time.monotonic() + 120
for line in emulator.stdout:
    m = re.search(r"(AWS_LAMBDA_[A-Z_]+)=(\S+)", line)
    if m:
        env[m.group(1)] = m.group(2)
    if "starting Runtime server" in line or time.monotonic() > deadline:
        break
if "AWS_LAMBDA_RUNTIME_API" not in env:
    sys.exit("the emulator did not start")

scratch = tempfile.mkdtemp()
password = "bench-password"
hash_ = subprocess.run([server, "hash-password"], input=password + "\n", capture_output=True,
                       text=True, check=True).stdout.strip()
users = os.path.join(scratch, "users.toml")
with open(users, "w") as f:
    f.write(f'[[users]]\nusername = "bench"\npassword_hash = "{hash_}"\nname = "Bench"\n')
site = f"http://127.0.0.1:{port}"
base = f"{site}/lambda-url/{env.get('AWS_LAMBDA_FUNCTION_NAME', '_')}/api/auth"
function_env = dict(os.environ, **env,
    PORTCULLIS_CONFIG_TOML=f'[[providers]]\ntype = "credentials"\nid = "credentials"\n'
                           f'name = "Credentials"\nusers_file = "{users}"\n',
    NEXTAUTH_URL=f"{site}/api/auth", NEXTAUTH_SECRET=os.urandom(32).hex(), PORTCULLIS_LOG="warn")

def kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])

cold, warm, idle, peak = [], [], [], []
for _ in range(5):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    began = time.monotonic()
    p = subprocess.Popen([function], env=function_env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    csrf = json.load(opener.open(f"{base}/csrf", timeout=30))["csrfToken"]
    cold.append((time.monotonic() - began) * 1000)
    idle.append(kib(p.pid, "VmRSS"))
    times = []
    for _ in range(50):
        t = time.monotonic()
        opener.open(f"{base}/csrf", timeout=30).read()
        times.append((time.monotonic() - t) * 1000)
    warm.append(statistics.median(times))
    form = urllib.parse.urlencode({"csrfToken": csrf, "username": "bench",
                                   "password": password, "json": "true"}).encode()
    opener.open(f"{base}/callback/credentials", data=form, timeout=30).read()
    for _ in range(200):
        body = json.load(opener.open(f"{base}/session", timeout=30))
        assert body["user"]["name"] == "Bench", body
    peak.append(kib(p.pid, "VmHWM"))
    p.terminate()
    p.wait()
emulator.terminate()
emulator.wait()

size = os.path.getsize(function) // 1024
print("| figure (median of 5) | value |")
print("|---|---|")
print(f"| cold start: spawn to the first event's answer | {statistics.median(cold):.1f} ms |")
print(f"| a warm invocation through the emulator (GET /csrf) | {statistics.median(warm):.2f} ms |")
print(f"| RSS after the first event | {statistics.median(idle)/1024:.1f} MiB |")
print(f"| peak RSS after a sign-in and 200 session reads | {statistics.median(peak)/1024:.1f} MiB |")
print(f"| binary size | {size} KiB |")
print(f"\nmachine: {os.cpu_count()} cores, load {open('/proc/loadavg').read().split()[:3]}")
PY
