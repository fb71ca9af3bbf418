# Shared by the bench scripts (sourced): waiting for a server, reading a mailed link.

# Waits until `url` answers 200 (the server is up), at most 30 s.
wait_up() {
    python3 - "$1" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + 30
while True:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"{url} did not come up")
        time.sleep(0.005)
PY
}

# The sign-in link mailed to `address`, read (and removed) from `.ci/smtp`'s Maildir
# ($PORTCULLIS_TEST_MAILDIR), waiting at most 10 s.
mailed_link() {
    python3 - "$PORTCULLIS_TEST_MAILDIR" "$1" <<'PY'
import email, os, sys, time
maildir, address = sys.argv[1:3]
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    for name in os.listdir(os.path.join(maildir, "new")):
        path = os.path.join(maildir, "new", name)
        with open(path, "rb") as f:
            message = email.message_from_binary_file(f)
        if message.get("X-RcptTo") == address:
            os.remove(path)
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    text = part.get_payload(decode=True).decode()
                    print(next(l.strip() for l in text.splitlines() if l.startswith("http")))
                    sys.exit(0)
    time.sleep(0.05)
sys.exit(f"no mail for {address}")
PY
}
