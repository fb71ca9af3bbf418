// A Portcullis hook receiver: Node 20 built-ins only.
//
// Verifies each request's Standard Webhooks signature, answers `sign_in`, `jwt` and
// `session` with a small policy, and signs the answer with the request's own webhook-id
// (Portcullis refuses any answer that is not signed that way).
//
//     PORTCULLIS_HOOK_SECRET=whsec_... node receiver.mjs [PORT]
//
// PORT defaults to $PORT, then 8787; 0 picks a free port. The first line on stdout is
// `listening on http://HOST:PORT`. HOST is $HOST, default 127.0.0.1.
// Point [hooks.sign_in], [hooks.jwt] and [hooks.session] at that URL, with the same secret.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const TOLERANCE_SECONDS = 5 * 60;
const MAX_BODY = 1 << 20;
const ALLOWED_DOMAIN = "@example.com";
const ADMIN_EMAIL = "admin@example.com";

/** The HMAC key of a `whsec_<base64>` secret. */
function loadKey(secret) {
  if (!secret.startsWith("whsec_")) throw new Error("must start with whsec_");
  const encoded = secret.slice("whsec_".length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error("not base64 after whsec_");
  return Buffer.from(encoded, "base64");
}

/** HMAC-SHA256(key, "{id}.{timestamp}.{body}"), raw bytes. */
function mac(key, id, timestamp, body) {
  return createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
}

/** The request's webhook-id if one of its `v1,` signatures is ours and recent, else null. */
function verify(key, headers, body) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return null;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SECONDS) return null;
  const expected = mac(key, id, timestamp, body);
  for (const candidate of signatures.split(" ")) {
    const [version, value = ""] = candidate.split(",", 2);
    const given = Buffer.from(value, "base64");
    if (version === "v1" && given.length === expected.length && timingSafeEqual(given, expected)) {
      return id;
    }
  }
  return null;
}

/** The answer to one hook call, or null for a hook this receiver does not serve. */
function policy({ type, data = {} }) {
  if (type === "sign_in") {
    const email = (data.email ?? data.user?.email ?? "").toLowerCase();
    return { decision: email.endsWith(ALLOWED_DOMAIN) ? "allow" : "deny" };
  }
  if (type === "jwt") {
    const token = data.token;
    if ((token.email ?? "").toLowerCase() === ADMIN_EMAIL) token.role = "admin";
    return { token };
  }
  if (type === "session") {
    const { session, token } = data;
    if (token?.role !== undefined) session.role = token.role;
    return { session };
  }
  return null;
}

let key;
try {
  key = loadKey(process.env.PORTCULLIS_HOOK_SECRET ?? "");
} catch (error) {
  console.error(`bad PORTCULLIS_HOOK_SECRET: ${error.message}`); // never the secret itself
  process.exit(1);
}

const server = createServer((request, response) => {
  const chunks = [];
  let size = 0;
  request.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      response.writeHead(413).end();
      request.destroy();
    } else {
      chunks.push(chunk);
    }
  });
  request.on("end", () => {
    const body = Buffer.concat(chunks);
    const id = request.method === "POST" ? verify(key, request.headers, body) : null;
    if (id === null) {
      console.error("refused: no valid signature");
      return response.writeHead(401).end();
    }
    let answer = null;
    try {
      answer = policy(JSON.parse(body.toString("utf8")));
    } catch {
      answer = null;
    }
    if (answer === null) return response.writeHead(400).end();
    const payload = Buffer.from(JSON.stringify(answer));
    const timestamp = Math.floor(Date.now() / 1000);
    response.writeHead(200, {
      "content-type": "application/json",
      "webhook-id": id, // the request's id: the answer is bound to it
      "webhook-timestamp": String(timestamp),
      "webhook-signature": `v1,${mac(key, id, timestamp, payload).toString("base64")}`,
    });
    response.end(payload);
  });
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 8787);
server.listen(port, process.env.HOST ?? "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`listening on http://${address}:${port}`);
});
