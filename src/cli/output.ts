/** Where command output goes; stdout for results, stderr for messages and errors. */
export type CliIo = {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
};

export const processIo: CliIo = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/** A table column: its header and how to read a cell from a row. */
export type Column<R> = { readonly header: string; readonly value: (row: R) => unknown };

/**
 * Prints results either for people (tables, `key: value` lines) or, with `--json`, as exactly one
 * JSON document on stdout for scripts. Commands choose the shape; the mode is the user's.
 */
export type Output = {
  readonly json: boolean;
  /** Rows as an aligned table, or a JSON array of `jsonRows` (default: the rows themselves). */
  table: <R>(rows: readonly R[], columns: readonly Column<R>[], jsonRows?: unknown) => void;
  /** One object as `key: value` lines, or as JSON. */
  record: (value: Record<string, unknown>) => void;
  /** A sentence for people; with `--json`, `json` is printed instead (nothing when absent). */
  message: (text: string, json?: unknown) => void;
};

/** How a cell value reads in a table: dashes for nothing, JSON for structures. */
export const cellText = (v: unknown): string => {
  if (v === undefined || v === null || v === "") return "-";
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
};

const jsonReplacer = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);
export const toJson = (v: unknown): string => JSON.stringify(v, jsonReplacer, 2);

/** Renders an aligned table with upper-case headers; the last column is not padded. */
export const renderTable = <R>(rows: readonly R[], columns: readonly Column<R>[]): string => {
  const cells = rows.map((r) => columns.map((c) => cellText(c.value(r)).replace(/\n/g, " ")));
  const headers = columns.map((c) => c.header.toUpperCase());
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...cells.map(line)].join("\n") + "\n";
};

export const createOutput = (io: CliIo, json: boolean): Output => ({
  json,
  table: (rows, columns, jsonRows) => {
    if (json) io.stdout(toJson(jsonRows ?? rows) + "\n");
    else io.stdout(rows.length === 0 ? "(none)\n" : renderTable(rows, columns));
  },
  record: (value) => {
    if (json) {
      io.stdout(toJson(value) + "\n");
      return;
    }
    const keys = Object.keys(value);
    const w = Math.max(0, ...keys.map((k) => k.length));
    io.stdout(keys.map((k) => `${(k + ":").padEnd(w + 1)} ${cellText(value[k])}`).join("\n") + "\n");
  },
  message: (text, jsonValue) => {
    if (!json) io.stdout(text.endsWith("\n") ? text : text + "\n");
    else if (jsonValue !== undefined) io.stdout(toJson(jsonValue) + "\n");
  },
});
