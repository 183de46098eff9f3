import { describe, expect, it } from "vitest";
import { collect, fieldsOf, parseField, showField, type JsonSchema } from "./schemaForm";

const schema: JsonSchema = {
  type: "object",
  properties: {
    max_results: { type: "integer", minimum: 1, maximum: 10, title: "Max results" },
    allowed_domains: { anyOf: [{ type: "array", items: { type: "string" } }, { type: "null" }] },
    mode: { enum: ["fast", "deep"] },
    verbose: { type: "boolean" },
    headers: { type: "object" },
    query: { type: "string", minLength: 2 },
  },
  required: ["query"],
};

describe("fieldsOf", () => {
  it("gives each property a control of its kind, pydantic's optional unions unwrapped", () => {
    const fields = fieldsOf(schema);
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["max_results", "integer", false],
      ["allowed_domains", "list", false],
      ["mode", "choice", false],
      ["verbose", "boolean", false],
      ["headers", "json", false],
      ["query", "text", true],
    ]);
    expect(fields[0].label).toBe("Max results");
    expect(fields[1].label).toBe("allowed domains");
  });
});

describe("parseField and collect", () => {
  const fields = fieldsOf(schema);
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));

  it("reads what a person typed as the JSON the API takes", () => {
    const { value, errors } = collect(fields, {
      max_results: "3",
      allowed_domains: "a.org, b.org,",
      mode: "deep",
      verbose: true,
      headers: '{"X": "1"}',
      query: "cats",
    });
    expect(errors).toEqual({});
    expect(value).toEqual({
      max_results: 3,
      allowed_domains: ["a.org", "b.org"],
      mode: "deep",
      verbose: true,
      headers: { X: "1" },
      query: "cats",
    });
  });

  it("leaves empty optional fields out and names what is wrong with the rest", () => {
    const { value, errors } = collect(fields, { max_results: "11", headers: "{", mode: "slow" });
    expect(value).toEqual({ verbose: false });
    expect(errors).toEqual({
      max_results: "at most 10",
      headers: "not valid JSON",
      mode: "one of fast, deep",
      query: "required",
    });
    expect(parseField(byName.max_results, "2.5")).toEqual({ ok: false, error: "a whole number" });
    expect(parseField(byName.query, "x")).toEqual({ ok: false, error: "at least 2 characters" });
  });

  it("shows a stored value so that reading it back gives the same value", () => {
    const stored = { max_results: 4, allowed_domains: ["a.org"], headers: { X: "1" } };
    for (const [name, value] of Object.entries(stored)) {
      const field = byName[name];
      expect(parseField(field, showField(field, value))).toEqual({ ok: true, value });
    }
  });
});
