import { describe, expect, it } from "vitest";
import { joinNegativeValues, parseArgs } from "./args.js";

describe("argument parsing", () => {
  const options = { class: { type: "string", multiple: true }, seed: { type: "string" }, smooth: { type: "boolean" }, n: { type: "string", short: "n" } } as const;
  it("takes a negative number after a flag with a value as its value", () => {
    expect(joinNegativeValues(["--class", "-1", "--seed", "-5", "-n", "-2", "--smooth"], options)).toEqual(["--class=-1", "--seed=-5", "-n-2", "--smooth"]);
    const { values } = parseArgs({ args: ["--class", "-1", "--class", "3", "--seed", "-.5"], options });
    expect(values.class).toEqual(["-1", "3"]);
    expect(values.seed).toBe("-.5");
  });
  it("leaves other dashes alone: a boolean flag, --flag=value, an option as the next token, and everything after --", () => {
    expect(joinNegativeValues(["--smooth", "-1"], options)).toEqual(["--smooth", "-1"]);
    expect(joinNegativeValues(["--seed=3", "-1"], options)).toEqual(["--seed=3", "-1"]);
    expect(joinNegativeValues(["--seed", "--smooth"], options)).toEqual(["--seed", "--smooth"]);
    expect(joinNegativeValues(["--", "--seed", "-1"], options)).toEqual(["--", "--seed", "-1"]);
    expect(() => parseArgs({ args: ["--seed", "-x"], options })).toThrow(/--seed.*ambiguous/s);
  });
});
