import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (process.env.LOADS_FILE) appendFileSync(process.env.LOADS_FILE, `${r.url}\n`);
  return r;
}
