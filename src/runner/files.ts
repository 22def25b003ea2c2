import { open, readFile, stat, copyFile, truncate } from "node:fs/promises";
import type { LogChunk, LogsOptions } from "./ports.js";

/**
 * Files of the process backend: the start time of a pid (to tell a live instance from a reused
 * pid), log reading and copy-truncate rotation. Linux `/proc` only.
 */

/** The start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22); undefined when it does not run. */
export const processStartTicks = async (pid: number): Promise<string | undefined> => {
  try {
    const s = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const fields = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); a zombie has exited.
    if (fields[0] === "Z") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
};

/** Reads an instance's log: from `from` (a previous `next`; past the end after a rotation: from 0), or its last `maxBytes`. */
export const readLog = async (path: string, opts: LogsOptions): Promise<LogChunk> => {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return { text: "", next: 0 };
  }
  let from = opts.from === undefined ? Math.max(0, size - opts.maxBytes) : opts.from > size ? 0 : opts.from;
  const len = Math.min(opts.maxBytes, size - from);
  if (len <= 0) return { text: "", next: from };
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(len);
    const { bytesRead } = await fh.read(buf, 0, len, from);
    from += bytesRead;
    return { text: buf.subarray(0, bytesRead).toString("utf8"), next: from };
  } finally {
    await fh.close();
  }
};

/**
 * Keeps a log under `maxBytes`: past it, the log is copied to `<path>.1` (replacing the previous
 * one) and truncated. The process writes with O_APPEND, so it continues at the new end. At most
 * 2 × `maxBytes` per instance stay on disk; lines written between the copy and the truncation are lost.
 */
export const rotateLog = async (path: string, maxBytes: number): Promise<boolean> => {
  try {
    if ((await stat(path)).size <= maxBytes) return false;
    await copyFile(path, `${path}.1`);
    await truncate(path, 0);
    return true;
  } catch {
    return false;
  }
};
