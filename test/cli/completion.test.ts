import t from "tap";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { baseEnv, repoRoot, runCli } from "./cliProcess.js";

// Shell completion (@bomb.sh/tab on the commander program): the scripts are generated, and the
// bash one really completes, run by bash against the real binary.
t.setTimeout(10 * 60_000);
const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), "ganglion-completion-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));
// `ganglion` on PATH, as `npm install -g` would put it.
await writeFile(join(dir, "ganglion"), `#!/bin/sh\nexec "${process.execPath}" --import tsx "${join(repoRoot, "src/cli/main.ts")}" "$@"\n`);
await chmod(join(dir, "ganglion"), 0o755);

t.test("scripts for bash, zsh and fish", async (t) => {
  const bash = await runCli(["complete", "bash"]);
  t.equal(bash.code, 0, bash.stderr);
  t.match(bash.stdout, /complete -F __ganglion_complete ganglion/);
  t.match(bash.stdout, /ganglion complete -- /, "candidates come from the program itself");
  const zsh = await runCli(["complete", "zsh"]);
  t.equal(zsh.code, 0, zsh.stderr);
  t.match(zsh.stdout, /^#compdef ganglion/m);
  t.match(zsh.stdout, /ganglion complete -- /);
  const fish = await runCli(["complete", "fish"]);
  t.equal(fish.code, 0, fish.stderr);
  t.match(fish.stdout, /complete -c ganglion/);
  t.match(fish.stdout, /ganglion complete -- /);
  await writeFile(join(dir, "ganglion.bash"), bash.stdout);
});

t.test("the candidates: commands, subcommands, options and option choices", async (t) => {
  const c = async (...words: string[]) => (await runCli(["complete", "--", ...words])).stdout;
  t.match(await c("plugin", "va"), /^validate\t/m);
  t.match(await c("audit", "--fo"), /^--follow\t/m);
  t.match(await c("tasks", "--wa"), /^--watch\t/m);
  t.match(await c("up", "--log-format", ""), /^pretty\t?\n(.*\n)?json/m);
  t.match(await c("pl"), /^plugin\t[\s\S]*^plugins\t/m);
});

t.test("bash completes with the generated script", async (t) => {
  // The one function of the bash-completion package the script calls, for the simple case (no
  // `=` or `:` in the words): bash-completion itself is not installed here.
  const shim = `_get_comp_words_by_ref() { cur="\${COMP_WORDS[COMP_CWORD]}"; prev="\${COMP_WORDS[COMP_CWORD-1]}"; words=("\${COMP_WORDS[@]}"); cword=$COMP_CWORD; }`;
  const complete = async (...words: string[]) => {
    const script = `${shim}
source "${join(dir, "ganglion.bash")}"
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}
__ganglion_complete 2>/dev/null
printf '%s\\n' "\${COMPREPLY[@]}"`;
    const env = baseEnv({ PATH: `${dir}:${process.env.PATH}` });
    const r = await run("bash", ["-c", script], { cwd: repoRoot, env });
    return r.stdout.split("\n").filter(Boolean);
  };
  t.same(await complete("ganglion", "plugin", "va"), ["validate"]);
  t.same(await complete("ganglion", "audit", "--fo"), ["--follow"]);
  t.same((await complete("ganglion", "up", "--log-format", "")).sort(), ["json", "pretty"]);
  t.ok((await complete("ganglion", "task", "")).includes("submit"));
});
