import { describe, expect, it } from "vitest";
import { ingesting, sourcesOf } from "./knowledge";

describe("sourcesOf", () => {
  const passage = { title: "Refunds", position: 0, score: 0.03, text: "14 days", document_id: "d", chunk_id: 7 };

  it("reads the passages of a knowledge_search result", () => {
    expect(sourcesOf("knowledge_search", JSON.stringify({ passages: [passage] }))).toEqual([passage]);
    expect(sourcesOf("knowledge_search", { passages: [passage] })).toEqual([passage]);
  });

  it("shows nothing for other tools or content that is not the tool's JSON", () => {
    expect(sourcesOf("file_read", JSON.stringify({ passages: [passage] }))).toEqual([]);
    expect(sourcesOf("knowledge_search", "not json")).toEqual([]);
    expect(sourcesOf("knowledge_search", JSON.stringify({ passages: [{ title: 3 }] }))).toEqual([]);
    expect(sourcesOf("knowledge_search", null)).toEqual([]);
  });
});

describe("ingesting", () => {
  it("is true while a document is queued or processing", () => {
    expect(ingesting([{ status: "ready" }, { status: "processing" }])).toBe(true);
    expect(ingesting([{ status: "ready" }, { status: "failed" }])).toBe(false);
  });
});
