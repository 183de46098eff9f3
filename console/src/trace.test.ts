import { describe, expect, it } from "vitest";
import { span, traceSteps } from "./trace";

const t = (ms: number) => new Date(Date.UTC(2026, 11, 6, 10, 0, 0) + ms).toISOString();

describe("traceSteps", () => {
  it("times each model call and folds each tool call with its approval and result", () => {
    const steps = traceSteps(
      [
        { seq: 1, type: "user_message", payload: { content: "write it" }, created_at: t(0) },
        { seq: 2, type: "model_response", payload: { text: "", model_name: "gemini-2.5-flash", input_tokens: 1200, output_tokens: 30, cost_usd: "0.000420" }, created_at: t(1500) },
        { seq: 3, type: "tool_call", payload: { tool_name: "file_write", tool_call_id: "c1", args: { path: "a.txt" } }, created_at: t(1500) },
        { seq: 4, type: "approval_requested", payload: { tool_name: "file_write", tool_call_id: "c1" }, created_at: t(1500) },
        { seq: 5, type: "approval_decided", payload: { tool_call_id: "c1", approved: true, reason: "fine" }, created_at: t(9000) },
        { seq: 6, type: "tool_result", payload: { tool_name: "file_write", tool_call_id: "c1", outcome: "ok", content: "wrote 2 bytes" }, created_at: t(9100) },
        { seq: 7, type: "model_response", payload: { text: "Done.", model_name: "gemini-2.5-flash", input_tokens: 1300, output_tokens: 5 }, created_at: t(9900) },
      ],
      t(0),
    );
    expect(steps.map((s) => s.kind)).toEqual(["prompt", "model", "tool", "model"]);
    expect(steps[1]).toMatchObject({ title: "Model call · gemini-2.5-flash", start: 0, end: 1500 });
    expect(steps[1].facts).toEqual(["1,200 in · 30 out tokens", "$0.00042"]);
    expect(steps[2]).toMatchObject({ title: "Tool · file_write", start: 1500, end: 9100, outcome: "ok", body: "wrote 2 bytes" });
    expect(steps[2].facts).toContain("approved: fine");
    // the second call started when the tool's result came back (not at the approval)
    expect(steps[3]).toMatchObject({ start: 9100, end: 9900, body: "Done." });
  });

  it("says a call still waits for a person", () => {
    const [, step] = traceSteps([
      { seq: 1, type: "tool_call", payload: { tool_name: "x", tool_call_id: "c", args: {} }, created_at: t(0) },
      { seq: 2, type: "tool_call", payload: { tool_name: "x", tool_call_id: "c", args: {} }, created_at: t(5) },
      { seq: 3, type: "approval_requested", payload: { tool_call_id: "c" }, created_at: t(0) },
    ]).concat(traceSteps([]));
    expect(step).toBeUndefined(); // a call told again is one step
    const [only] = traceSteps([
      { seq: 1, type: "tool_call", payload: { tool_name: "x", tool_call_id: "c", args: {} }, created_at: t(0) },
      { seq: 2, type: "approval_requested", payload: { tool_call_id: "c" }, created_at: t(0) },
    ]);
    expect(only.outcome).toBe("waiting");
    expect(only.facts).toContain("waiting for approval");
  });

  it("writes spans briefly", () => {
    expect(span(250)).toBe("250 ms");
    expect(span(1500)).toBe("1.50 s");
    expect(span(61_000)).toBe("61.0 s");
  });
});
