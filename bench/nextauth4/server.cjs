// next-auth 4's own request handler on Node's http server, for bench/session.sh.
//
// It calls next-auth's core `AuthHandler` exactly as `next-auth/next`'s API route does,
// without Next.js around it, so the figure is next-auth's session check alone (Next.js's
// routing would only add to it). JWT sessions (next-auth 4 encrypts them: JWE dir/A256GCM).
//
//   NEXTAUTH4_DIR=<folder holding node_modules/next-auth> NEXTAUTH_SECRET=… PORT=3993 node server.cjs
//   … node server.cjs token    prints a session cookie's value for a signed-in user
"use strict";
const http = require("http");
const path = require("path");

const root = path.join(process.env.NEXTAUTH4_DIR, "node_modules");
const { AuthHandler } = require(path.join(root, "next-auth/core/index.js"));
const { encode } = require(path.join(root, "next-auth/jwt/index.js"));
const Credentials = require(path.join(root, "next-auth/providers/credentials.js")).default;
const cookie = require(path.join(root, "cookie"));

const port = Number(process.env.PORT);
const secret = process.env.NEXTAUTH_SECRET;
process.env.NEXTAUTH_URL = `http://127.0.0.1:${port}/api/auth`;
const options = {
  secret,
  session: { strategy: "jwt" },
  providers: [Credentials({ credentials: {}, authorize: async () => null })],
  logger: { error() {}, warn() {}, debug() {} },
};

if (process.argv[2] === "token") {
  encode({ token: { name: "Bench", email: "bench@example.com", sub: "1" }, secret }).then(
    (t) => process.stdout.write(t + "\n"),
  );
} else {
  http
    .createServer(async (req, res) => {
      const url = new URL(req.url, process.env.NEXTAUTH_URL);
      const [action, providerId] = url.pathname.replace(/^\/api\/auth\/?/, "").split("/");
      const answer = await AuthHandler({
        req: {
          body: {},
          query: Object.fromEntries(url.searchParams),
          cookies: cookie.parse(req.headers.cookie ?? ""),
          headers: req.headers,
          method: req.method,
          action,
          providerId,
          error: providerId,
        },
        options,
      });
      res.statusCode = answer.status ?? 200;
      const cookies = (answer.cookies ?? []).map((c) => cookie.serialize(c.name, c.value, c.options));
      if (cookies.length) res.setHeader("Set-Cookie", cookies);
      for (const h of answer.headers ?? []) res.setHeader(h.key, h.value);
      if (answer.redirect) res.setHeader("Location", answer.redirect);
      res.end(typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body ?? ""));
    })
    .listen(port, "127.0.0.1");
}
