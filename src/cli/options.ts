import { InvalidArgumentError } from "commander";

/** commander parser for a TCP port: 0–65535 (0 = any free port). */
export const parsePort = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError("must be a port number from 0 to 65535 (0 picks a free port).");
  return n;
};

/** commander parser for a positive integer. */
export const parsePositiveInt = (v: string): number => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw new InvalidArgumentError("must be a whole number of 1 or more.");
  return n;
};
