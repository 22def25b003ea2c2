import { readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";

/** Small HTTP helpers of the console server: bounded bodies, headers every answer carries, static files. */

/** The largest request body the console reads (task params are bounded by the core below this). */
export const MAX_BODY = 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * What every answer carries: no framing, no sniffing, no referrer (a login URL holds a token), and
 * a CSP that lets the page load only its own files. `'unsafe-eval'`: ajv compiles a schema into a
 * function, which is how the page validates a form with the schema the core validates with.
 */
export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

export const sendJson = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  res.end(text);
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page without script: what a browser without a session sees. */
export const sendPage = (res: ServerResponse, status: number, title: string, text: string) => {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(
    title,
  )}</h1><p>${escapeHtml(text)}</p></body></html>`;
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(html) });
  res.end(html);
};

/** Reads a JSON body of at most `max` bytes; refuses another content type, a larger body, or text that is not JSON. */
export const readJson = async (req: IncomingMessage, max = MAX_BODY): Promise<unknown> => {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") throw new HttpError(415, "the body must be application/json");
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > max) throw new HttpError(413, `the body is larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.destroy();
      throw new HttpError(413, `the body is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "the body is not JSON");
  }
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

/** Serves a file of `root` named by a URL path; false when there is none (no path leaves `root`). */
export const serveStatic = async (root: string, urlPath: string, res: ServerResponse): Promise<boolean> => {
  let rel: string;
  try {
    rel = decodeURIComponent(urlPath);
  } catch {
    return false;
  }
  if (rel.includes("\0")) return false;
  if (rel === "/" || rel === "") rel = "/index.html";
  const file = normalize(join(root, rel));
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) return false;
  const type = TYPES[extname(file)];
  if (!type) return false;
  try {
    if (!(await stat(file)).isFile()) return false;
  } catch {
    return false;
  }
  const body = await readFile(file);
  // Hashed asset names never change content; the page itself is read again every time.
  const cache = rel.startsWith("/assets/") ? "private, max-age=31536000, immutable" : "no-store";
  res.writeHead(200, { "content-type": type, "content-length": body.length, "cache-control": cache });
  res.end(body);
  return true;
};
