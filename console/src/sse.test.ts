import { describe, expect, it } from "vitest";
import { SseParser, readEvents } from "./sse";

describe("SseParser", () => {
  it("dispatches an event at a blank line, with its type, data and id", () => {
    const parser = new SseParser();
    expect(parser.feed('id: 3\nevent: tool_call\ndata: {"seq": 3}\n')).toEqual([]);
    expect(parser.feed("\n")).toEqual([{ event: "tool_call", data: '{"seq": 3}', id: "3" }]);
  });

  it("joins data lines, ignores comments and takes any line ending, split anywhere", () => {
    const parser = new SseParser();
    const text = ": keep-alive\r\n\r\nevent: text_delta\r\ndata: a\r\ndata: b\r\n\r\ndata: c\n\n";
    const events = [...text].flatMap((char) => parser.feed(char));
    expect(events).toEqual([
      { event: "text_delta", data: "a\nb", id: undefined },
      { event: "message", data: "c", id: undefined },
    ]);
  });

  it("keeps the last id for later events, as a client resuming with Last-Event-ID needs", () => {
    const parser = new SseParser();
    const events = parser.feed("id: 7\ndata: x\n\ndata: y\n\n");
    expect(events.map((e) => e.id)).toEqual(["7", "7"]);
  });
});

describe("readEvents", () => {
  it("reads a body that arrives in pieces, multi-byte characters split included", async () => {
    const bytes = new TextEncoder().encode('event: text_delta\ndata: {"delta": "héllo"}\n\nevent: execution\ndata: {}\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 5) controller.enqueue(bytes.slice(i, i + 5));
        controller.close();
      },
    });
    const seen: string[] = [];
    await readEvents(body, (e) => seen.push(`${e.event}:${e.data}`));
    expect(seen).toEqual(['text_delta:{"delta": "héllo"}', "execution:{}"]);
  });
});
