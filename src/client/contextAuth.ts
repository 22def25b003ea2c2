import { readFile } from "node:fs/promises";
import { credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";
import type { Authenticator, ConnectionOptions } from "@nats-io/transport-node";

/**
 * How a nats CLI context authenticates: `creds` (a `.creds` file), `nkey` (a file holding an nkey
 * seed), `user` + `password`, `token`. The nats CLI writes unset fields as "", so an empty string
 * is unset. Several may be given (as the nats CLI passes them all): the server takes what its
 * auth needs.
 */
export type ContextAuth = {
  readonly creds?: string | undefined;
  readonly nkey?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly token?: string | undefined;
};

/** True when the context names any way to authenticate. */
export const hasContextAuth = (a: ContextAuth): boolean => [a.creds, a.nkey, a.user, a.token].some((x) => x !== undefined && x !== "");

/** The connect options of `a` (files read now). A file that cannot be read throws an error naming it and the field. */
export const contextConnectOptions = async (
  a: ContextAuth,
  read: (path: string) => Promise<string> = (p) => readFile(p, "utf8"),
): Promise<Pick<ConnectionOptions, "authenticator" | "user" | "pass" | "token">> => {
  const file = async (field: string, path: string) => {
    try {
      return await read(path);
    } catch (err) {
      throw new Error(`cannot read the context's ${field} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const auths: Authenticator[] = [];
  if (a.creds) auths.push(credsAuthenticator(new TextEncoder().encode(await file("creds", a.creds))));
  if (a.nkey) {
    const seed = (await file("nkey", a.nkey)).split(/\s+/).find((l) => /^S[A-Z2-7]{57}$/.test(l));
    if (!seed) throw new Error(`the context's nkey file ${a.nkey} holds no nkey seed (a line "SU…")`);
    auths.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
  }
  return {
    ...(auths.length === 1 ? { authenticator: auths[0]! } : auths.length > 1 ? { authenticator: auths } : {}),
    ...(a.user ? { user: a.user, ...(a.password ? { pass: a.password } : {}) } : {}),
    ...(a.token ? { token: a.token } : {}),
  };
};
