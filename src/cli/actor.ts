import { userInfo } from "node:os";

/** Who the events will say did it: the operator's OS user. */
export const operatorActor = (): string => {
  try {
    return `operator:${userInfo().username}`;
  } catch {
    return "operator";
  }
};
