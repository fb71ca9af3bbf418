-- bench/cluster.sh's wrk script: GET /session with the session cookie, and, when
-- SIGNIN_EVERY is set, every SIGNIN_EVERYth request a credentials sign-in of one of
-- USERS users (bench-0 … bench-N) from a made-up client address (the instances trust
-- 127.0.0.0/8 as a proxy, so per-IP limits see many clients). Prints one JSON line.
local session_cookie = os.getenv("SESSION_COOKIE") or ""
local signin_every = tonumber(os.getenv("SIGNIN_EVERY") or "0")
local users = tonumber(os.getenv("USERS") or "1")
local csrf_cookie = os.getenv("CSRF_COOKIE") or ""
local csrf_token = os.getenv("CSRF_TOKEN") or ""
local password = os.getenv("PASSWORD") or ""
local count = 0
-- Each wrk process gets its own SEED: with one seed, all three would sign in the same
-- users in the same order, tripling each user's attempts (and tripping its rate limit).
math.randomseed(tonumber(os.getenv("SEED") or "1"))

function request()
  count = count + 1
  if signin_every > 0 and count % signin_every == 0 then
    local user = math.random(0, users - 1)
    local body = "csrfToken=" .. csrf_token .. "&username=bench-" .. user
      .. "&password=" .. password .. "&json=true"
    local ip = "10." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
    return wrk.format("POST", "/api/auth/callback/credentials", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Cookie"] = csrf_cookie,
      ["X-Forwarded-For"] = ip,
    }, body)
  end
  return wrk.format("GET", "/api/auth/session", { ["Cookie"] = session_cookie })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"non2xx":%d,"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
