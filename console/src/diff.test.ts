import { describe, expect, it } from "vitest";
import { diffLines } from "./diff";

describe("diffLines", () => {
  it("keeps common lines and marks what was removed and added", () => {
    const before = '{\n  "system_prompt": "be brief",\n  "tools": []\n}';
    const after = '{\n  "system_prompt": "be thorough",\n  "tools": []\n}';
    expect(diffLines(before, after)).toEqual([
      { op: " ", text: "{" },
      { op: "-", text: '  "system_prompt": "be brief",' },
      { op: "+", text: '  "system_prompt": "be thorough",' },
      { op: " ", text: '  "tools": []' },
      { op: " ", text: "}" },
    ]);
  });

  it("gives the same lines back unchanged and handles an empty side", () => {
    expect(diffLines("a\nb", "a\nb").every((l) => l.op === " ")).toBe(true);
    expect(diffLines("", "x").map((l) => l.op)).toEqual(["-", "+"]);
  });
});
