import { describe, expect, it } from "vitest";
import { duration, money, turnStats } from "./turns";

describe("turnStats", () => {
  it("says each turn's tokens, cost and time", () => {
    const stats = turnStats([
      {
        id: "a",
        status: "succeeded",
        usage: { requests: 2, input_tokens: 1234, output_tokens: 56, tool_calls: 1 },
        cost: "0.000420",
        started_at: "2026-12-06T10:00:00.000Z",
        finished_at: "2026-12-06T10:00:02.340Z",
      },
      { id: "b", status: "cancelled", usage: { requests: 1, input_tokens: 5, output_tokens: 0, tool_calls: 0 }, cost: null, started_at: null, finished_at: null },
    ]);
    expect(stats.a.summary).toBe("1,234 tokens in · 56 out · $0.00042 · 2.3 s");
    expect(stats.b.summary).toBe("5 tokens in · 0 out · cost unknown · cancelled");
  });

  it("writes money and durations briefly", () => {
    expect(money("0")).toBe("$0");
    expect(money(1.5)).toBe("$1.50");
    expect(money(null)).toBeNull();
    expect(duration("2026-12-06T10:00:00Z", "2026-12-06T10:00:00.250Z")).toBe("250 ms");
    expect(duration("2026-12-06T10:00:00Z", "2026-12-06T10:02:05Z")).toBe("2 min 5 s");
  });
});
