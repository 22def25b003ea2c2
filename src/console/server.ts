import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import * as E from "fp-ts/lib/Either.js";
import type { Authority } from "../auth/authority.js";
import { mintOpsUser } from "../auth/ops.js";
import { serviceClient } from "../contract/client.js";
import type { ServiceClient } from "../contract/client.js";
import { reportErrors } from "../contract/decodeErrors.js";
import { Endpoints } from "../contract/endpoints.js";
import { tlsConnectOption } from "../contract/tls.js";
import type { ClientTls } from "../contract/tls.js";
import type { Logger } from "../log.js";
import { allowedEndpoints, routeOf } from "./access.js";
import { HttpError, readJson, SECURITY_HEADERS, sendJson, sendPage, serveStatic } from "./http.js";
import { startLive } from "./live.js";
import type { LiveOptions } from "./live.js";
import { clearedCookie, cookieValue, SESSION_COOKIE, SESSION_TTL_MS, sessionCookie, sessions } from "./sessions.js";
import type { Session, SessionKind } from "./sessions.js";
import { taskTypes } from "./taskTypes.js";

/**
 * The console's HTTP server (README, "The console"): the page's files, a login by single-use
 * token, and a thin JSON + SSE layer over the core's service endpoints. It runs in the process of
 * `ganglion up` / `ganglion serve --console`, listens on loopback by default, and holds its own
 * NATS connections: BUS (the credentials it was given) and, for viewer sessions, an OPS user.
 */

export type ConsoleOptions = {
  /** The bus's client URL and the BUS credentials (text) the console connects with. */
  readonly url: string;
  readonly creds: string | undefined;
  readonly tls?: ClientTls | undefined;
  /** Keys to mint the OPS user of viewer sessions; without them only operator sessions exist. */
  readonly authority?: Authority | undefined;
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly log: Logger;
  /** The built page (default: `dist/console-web` of this package). */
  readonly assetsDir?: string;
  readonly live?: LiveOptions;
};

export type ConsoleServer = {
  /** `http://HOST:PORT`. */
  readonly origin: string;
  /** A new single-use login URL for a session of `kind`. */
  readonly loginUrl: (kind: SessionKind) => string;
  readonly stop: () => Promise<void>;
};

export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL("../../dist/console-web", import.meta.url));

const CONSOLE_PREFIX = "/api/";

const connectWith = (url: string, creds: string | undefined, name: string, tls: ClientTls | undefined) =>
  connect({
    servers: url,
    ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
    ...tlsConnectOption(tls),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    noAsyncTraces: true,
  });

export const startConsole = async (opts: ConsoleOptions): Promise<ConsoleServer> => {
  const log = opts.log.child({ component: "console" });
  const host = opts.host ?? "127.0.0.1";
  const root = opts.assetsDir ?? DEFAULT_ASSETS_DIR;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  let bus: NatsConnection;
  try {
    bus = await connectWith(opts.url, opts.creds, "ganglion-console", opts.tls);
  } catch (err) {
    server.close();
    throw err;
  }
  const busClient = serviceClient(bus);
  let ops: Promise<{ nc: NatsConnection; client: ServiceClient }> | undefined;
  const opsClient = () =>
    (ops ??= (async () => {
      if (!opts.authority) throw new HttpError(503, "viewer sessions need the bus's keys (a data dir), which this console was started without");
      const user = await mintOpsUser(opts.authority, "ganglion-console-viewer");
      const nc = await connectWith(opts.url, user.creds, "ganglion-console-viewer", opts.tls);
      return { nc, client: serviceClient(nc) };
    })().catch((err) => {
      ops = undefined;
      throw err;
    }));
  const auth = sessions();
  const live = startLive(bus, log, opts.live);

  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const origin = `http://${hostPart}:${port}`;
  // DNS rebinding: a page of another site resolving its name to 127.0.0.1 sends its own Host.
  const allowedHosts = new Set([`${hostPart}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);
  const allowedOrigins = new Set([...allowedHosts].map((h) => `http://${h}`));

  const sessionOf = (req: IncomingMessage): { id: string; session: Session } | undefined => {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const session = auth.lookup(id);
    return session && id ? { id, session } : undefined;
  };

  /** A state-changing request must come from the page itself: same origin, our header, JSON. */
  const checkCsrf = (req: IncomingMessage) => {
    const o = req.headers.origin;
    if (o !== undefined && !allowedOrigins.has(o)) throw new HttpError(403, "cross-origin request refused");
    if (req.headers["x-ganglion-console"] !== "1") throw new HttpError(403, "missing the console's request header");
  };

  const call = async (s: Session, name: string, raw: unknown) => {
    const route = routeOf(s.kind, name);
    if (!route) throw new HttpError(403, `a ${s.kind} session may not call ${name}`);
    const spec = Endpoints[route.name];
    const decoded = spec.request.decode(raw);
    if (E.isLeft(decoded)) {
      const lines = reportErrors(decoded.left);
      return {
        status: 400,
        body: { ok: false, error: { code: "InvalidRequest", message: lines.join("; "), paths: lines.map((l) => l.slice(0, l.indexOf(":"))) } },
      };
    }
    // A page never waits on the core: live updates tell it when a task ends.
    const req = { ...(decoded.right as Record<string, unknown>) };
    delete req.waitMs;
    const actor = `console:${s.kind}:${s.handle}`;
    const r =
      route.via === "ops"
        ? await (await opsClient()).client.call(route.name, req as never)
        : await serviceClient(bus, { actor }).call(route.name, req as never);
    if (E.isLeft(r)) return { status: r.left.code === "Unavailable" ? 503 : 422, body: { ok: false, error: r.left } };
    return { status: 200, body: { ok: true, result: r.right } };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (!allowedHosts.has(req.headers.host ?? "")) return sendPage(res, 421, "Wrong host", "This console answers only on its own address.");
    const url = new URL(req.url ?? "/", origin);
    const method = req.method ?? "GET";

    if (url.pathname === "/login" && method === "GET") {
      const token = url.searchParams.get("token") ?? "";
      const got = auth.exchange(token);
      if (!got) {
        log.warn("console: a login with an unknown, used or expired token was refused");
        return sendPage(
          res,
          401,
          "Login refused",
          "This login link is invalid or was already used. Ask the operator for a new one (`ganglion up` prints one when it starts).",
        );
      }
      log.info({ kind: got.session.kind, session: got.session.handle }, "console: session opened");
      res.writeHead(303, { location: "/", "set-cookie": sessionCookie(got.id, Math.floor(SESSION_TTL_MS / 1000)), "cache-control": "no-store" });
      return res.end();
    }

    const current = sessionOf(req);
    if (!current) {
      if (url.pathname.startsWith(CONSOLE_PREFIX))
        return sendJson(res, 401, { ok: false, error: { code: "Unauthorized", message: "no session: log in first" } });
      return sendPage(res, 401, "Ganglion console: log in", "Open the login URL that `ganglion up` printed when it started.");
    }
    const s = current.session;

    if (!url.pathname.startsWith(CONSOLE_PREFIX)) {
      if (method !== "GET" && method !== "HEAD") return sendPage(res, 405, "Method not allowed", method);
      if (await serveStatic(root, url.pathname, res)) return;
      // The page routes with the hash; any other path is the page too.
      if (!url.pathname.includes(".") && (await serveStatic(root, "/", res))) return;
      return sendPage(res, 404, "Not found", url.pathname);
    }

    const path = url.pathname.slice(CONSOLE_PREFIX.length);
    if (method === "GET" && path === "session") return sendJson(res, 200, { kind: s.kind, handle: s.handle, endpoints: allowedEndpoints(s.kind) });
    if (method === "GET" && path === "live") {
      if (!live.attach(res)) sendJson(res, 503, { ok: false, error: { code: "Unavailable", message: "too many live streams" } });
      return;
    }
    if (method === "GET" && path === "task-types") {
      return sendJson(res, 200, { ok: true, result: await taskTypes(busClient) });
    }
    if (method !== "POST") throw new HttpError(405, `${method} /api/${path} is not served`);
    checkCsrf(req);
    const body = await readJson(req);
    if (path === "logout") {
      auth.end(current.id);
      res.setHeader("set-cookie", clearedCookie());
      return sendJson(res, 200, { ok: true });
    }
    if (path === "invite") {
      if (s.kind !== "operator") throw new HttpError(403, "only an operator session may invite");
      const kind = (body as { kind?: unknown }).kind;
      if (kind !== "operator" && kind !== "viewer") throw new HttpError(400, 'kind: expected "operator" or "viewer"');
      return sendJson(res, 200, { ok: true, result: { url: `${origin}/login?token=${auth.issueToken(kind)}` } });
    }
    const m = /^call\/([a-z]+\.[a-z]+)$/.exec(path);
    if (!m) throw new HttpError(404, `no such console API: ${path.slice(0, 100)}`);
    const r = await call(s, m[1]!, body);
    if (m[1] !== "task.get" && r.status === 200 && !m[1]!.startsWith("views.") && m[1] !== "audit.query")
      log.info({ session: s.handle, kind: s.kind, endpoint: m[1] }, "console: command");
    return sendJson(res, r.status, r.body);
  };

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error({ err }, "console: request failed");
      if (res.headersSent) return res.destroy();
      sendJson(res, status, { ok: false, error: { code: status === 403 ? "Forbidden" : "InvalidRequest", message: (err as Error).message } });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  let stopping: Promise<void> | undefined;
  return {
    origin,
    loginUrl: (kind) => `${origin}/login?token=${auth.issueToken(kind)}`,
    stop: () =>
      (stopping ??= (async () => {
        await live.stop();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
        if (ops) await (await ops.catch(() => undefined))?.nc.close();
        await bus.close();
      })()),
  };
};
