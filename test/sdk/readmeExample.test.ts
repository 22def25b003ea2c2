import t from "tap";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import ts from "typescript";
import { repoRoot } from "../cli/cliProcess.js";

// The README's TypeScript SDK example, extracted as printed and type-checked as a plugin author's
// project would: `ganglion/sdk` is the package's SDK (here its source), strict mode.
const readme = await readFile(join(repoRoot, "README.md"), "utf8");
const after = readme.slice(readme.indexOf("The TypeScript SDK ("));
const block = /```ts\n([\s\S]*?)```/.exec(after)?.[1];

t.test("the README's SDK worker example compiles", async (t) => {
  t.ok(block, "the block is there");
  t.match(block!, /new Worker\(/);
  // Under node_modules (ignored by git): its modules resolve from the checkout's node_modules.
  const dir = join(repoRoot, "node_modules", ".cache", `ganglion-readme-${process.pid}`);
  await mkdir(dir, { recursive: true });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "worker.ts");
  await writeFile(file, block!);
  // A plugin author's project is a module (`await` at the top level).
  await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ["node"],
    esModuleInterop: true,
    paths: { "ganglion/sdk": [join(repoRoot, "src/sdk/index.ts")] },
  });
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === file)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  t.same(diagnostics, [], diagnostics.join("\n"));
});
