import { describe, expect, it } from "vitest";
import { highlight, inline, parseMarkdown } from "./markdown";

describe("parseMarkdown", () => {
  it("reads paragraphs, headings, lists, quotes, rules, tables and fenced code", () => {
    const blocks = parseMarkdown(
      "# Title\n\nSome **bold** and *em*.\nNext line\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted\n\n---\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n```python\nprint('hi')\n```",
    );
    expect(blocks.map((b) => b.kind)).toEqual(["h", "p", "list", "list", "quote", "hr", "table", "code"]);
    expect(blocks[1]).toEqual({
      kind: "p",
      children: [
        { kind: "text", text: "Some " },
        { kind: "strong", children: [{ kind: "text", text: "bold" }] },
        { kind: "text", text: " and " },
        { kind: "em", children: [{ kind: "text", text: "em" }] },
        { kind: "text", text: "." },
        { kind: "br" },
        { kind: "text", text: "Next line" },
      ],
    });
    const list = blocks[2];
    expect(list.kind === "list" && list.items.length).toBe(2);
    expect(list.kind === "list" && list.items[1].map((b) => b.kind)).toEqual(["p", "list"]);
    expect(blocks[3]).toMatchObject({ kind: "list", ordered: true, start: 1 });
    expect(blocks[7]).toEqual({ kind: "code", lang: "python", text: "print('hi')" });
  });

  it("keeps an unclosed fence open to the end, as a streamed answer has it", () => {
    expect(parseMarkdown("```js\nlet a = 1;")).toEqual([{ kind: "code", lang: "js", text: "let a = 1;" }]);
  });

  it("keeps markup as text: nothing a model writes becomes HTML or script", () => {
    const [p] = parseMarkdown('<script>alert(1)</script> <img src=x onerror="alert(2)">');
    expect(p).toEqual({ kind: "p", children: [{ kind: "text", text: '<script>alert(1)</script> <img src=x onerror="alert(2)">' }] });
  });

  it("links only http, https and mailto", () => {
    expect(inline("[docs](https://example.com/a)")).toEqual([
      { kind: "link", href: "https://example.com/a", children: [{ kind: "text", text: "docs" }] },
    ]);
    expect(inline("[x](javascript:alert(1))")).toEqual([{ kind: "text", text: "x" }, { kind: "text", text: ")" }]);
    expect(inline("[x](data:text/html,hi)")).toEqual([{ kind: "text", text: "x" }]);
    expect(inline("see https://example.com/page.")).toEqual([
      { kind: "text", text: "see " },
      { kind: "link", href: "https://example.com/page", children: [{ kind: "text", text: "https://example.com/page" }] },
      { kind: "text", text: "." },
    ]);
  });

  it("reads inline code before emphasis and leaves snake_case alone", () => {
    expect(inline("`a*b*c` snake_case_name")).toEqual([
      { kind: "code", text: "a*b*c" },
      { kind: "text", text: " snake_case_name" },
    ]);
  });
});

describe("highlight", () => {
  it("marks keywords, strings, numbers and comments and keeps every character", () => {
    const code = 'def f(x):  # add\n    return x + 42 if x else "none"';
    const tokens = highlight(code, "python");
    expect(tokens.map((t) => t.text).join("")).toBe(code);
    const of = (kind: string) => tokens.filter((t) => t.kind === kind).map((t) => t.text);
    expect(of("keyword")).toEqual(["def", "return", "if", "else"]);
    expect(of("comment")).toEqual(["# add"]);
    expect(of("number")).toEqual(["42"]);
    expect(of("string")).toEqual(['"none"']);
  });

  it("knows each language's comments", () => {
    expect(highlight("a // b", "ts").map((t) => t.kind)).toEqual(["plain", "comment"]);
    expect(highlight("SELECT 1 -- b", "sql").at(-1)).toEqual({ kind: "comment", text: "-- b" });
    expect(highlight("a # b", "js").some((t) => t.kind === "comment")).toBe(false);
  });
});
