import t from "tap";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as prettier from "prettier";

/** The code is formatted by prettier (`.prettierrc.json`); `npx prettier --write` fixes what this finds. */
const root = new URL("../../", import.meta.url).pathname;

t.test("every TypeScript file is as prettier formats it", async (t) => {
  const walk = (d: string): string[] =>
    readdirSync(join(root, d)).flatMap((f) =>
      statSync(join(root, d, f)).isDirectory() ? (f === "node_modules" ? [] : walk(join(d, f))) : f.endsWith(".ts") ? [join(d, f)] : [],
    );
  const files = ["src", "test", "bench", "examples"].flatMap(walk);
  t.ok(files.length > 100, `${files.length} files`);
  const unformatted: string[] = [];
  for (const f of files) {
    const path = join(root, f);
    const options = { ...(await prettier.resolveConfig(path)), filepath: path };
    if (!(await prettier.check(readFileSync(path, "utf8"), options))) unformatted.push(f);
  }
  t.same(unformatted, [], "run `npx prettier --write` on these");
});
