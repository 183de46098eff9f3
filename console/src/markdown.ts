// Model output as markdown, parsed into plain data the chat renders as elements (never as
// HTML: a model's `<script>` or `onerror=` stays text, and the strict CSP stays). What models
// write: paragraphs, headings, lists, quotes, rules, fenced code, tables, and inline code,
// emphasis and links (http, https and mailto only).

export type Inline =
  | { kind: "text"; text: string }
  | { kind: "code"; text: string }
  | { kind: "strong" | "em" | "del"; children: Inline[] }
  | { kind: "link"; href: string; children: Inline[] }
  | { kind: "br" };

export type Block =
  | { kind: "p"; children: Inline[] }
  | { kind: "h"; level: number; children: Inline[] }
  | { kind: "code"; lang: string; text: string }
  | { kind: "list"; ordered: boolean; start: number; items: Block[][] }
  | { kind: "quote"; children: Block[] }
  | { kind: "table"; head: Inline[][]; rows: Inline[][][] }
  | { kind: "hr" };

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const ITEM = /^(\s*)([-*+]|(\d{1,9})[.)])\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;

export function parseMarkdown(source: string): Block[] {
  return blocks(source.replace(/\r\n?/g, "\n").split("\n"));
}

function blocks(lines: string[]): Block[] {
  const out: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
      i++; // the closing fence (or the end: an unclosed block runs to the end, as it streams)
      out.push({ kind: "code", lang: fence[2].toLowerCase(), text: body.join("\n") });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push({ kind: "h", level: heading[1].length, children: inline(heading[2]) });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      out.push({ kind: "hr" });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const body: string[] = [];
      while (i < lines.length && lines[i].trim() && QUOTE.test(lines[i])) body.push(QUOTE.exec(lines[i++])![1]);
      out.push({ kind: "quote", children: blocks(body) });
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && lines[i + 1].includes("-")) {
      const head = cells(line);
      const rows: Inline[][][] = [];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) rows.push(cells(lines[i++]).slice(0, head.length));
      out.push({ kind: "table", head, rows });
      continue;
    }
    const item = ITEM.exec(line);
    if (item) {
      const [list, next] = listAt(lines, i);
      out.push(list);
      i = next;
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) para.push(lines[i++]);
    out.push({ kind: "p", children: paragraph(para) });
  }
  return out;
}

function startsBlock(lines: string[], i: number): boolean {
  const line = lines[i];
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

function listAt(lines: string[], start: number): [Block, number] {
  const first = ITEM.exec(lines[start])!;
  const indent = first[1].length;
  const ordered = first[3] !== undefined;
  const items: Block[][] = [];
  let i = start;
  while (i < lines.length) {
    const item = ITEM.exec(lines[i]);
    if (!item || item[1].length !== indent || (item[3] !== undefined) !== ordered) break;
    const body = [item[4]];
    i++;
    // the item's own lines: continuations and nested lists, indented past its marker
    while (i < lines.length && (lines[i].trim() === "" ? i + 1 < lines.length && indentOf(lines[i + 1]) > indent : indentOf(lines[i]) > indent)) {
      body.push(lines[i++].slice(Math.min(indentOf(lines[i - 1]), indent + 2)));
    }
    items.push(blocks(body));
  }
  return [{ kind: "list", ordered, start: ordered ? Number(first[3]) : 1, items }, i];
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function cells(row: string): Inline[][] {
  return row.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((cell) => inline(cell.trim()));
}

function paragraph(lines: string[]): Inline[] {
  const out: Inline[] = [];
  lines.forEach((line, n) => {
    if (n > 0) out.push({ kind: "br" });
    out.push(...inline(line));
  });
  return out;
}

const SAFE_HREF = /^(https?:|mailto:)/i;

export function inline(text: string): Inline[] {
  const out: Inline[] = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push({ kind: "text", text: plain });
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const tick = /^(`+)([\s\S]*?[^`])\1(?!`)/.exec(rest);
    if (tick) {
      flush();
      out.push({ kind: "code", text: tick[2].replace(/^ (.*) $/, "$1") });
      i += tick[0].length;
      continue;
    }
    const link = /^\[([^\]]*)\]\(([^)\s]+)\)/.exec(rest);
    if (link) {
      flush();
      if (SAFE_HREF.test(link[2])) out.push({ kind: "link", href: link[2], children: inline(link[1]) });
      else out.push(...inline(link[1]));
      i += link[0].length;
      continue;
    }
    const bare = /^https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/.exec(rest);
    if (bare && !/[\w/]$/.test(plain)) {
      flush();
      out.push({ kind: "link", href: bare[0], children: [{ kind: "text", text: bare[0] }] });
      i += bare[0].length;
      continue;
    }
    const strong = /^(\*\*|__)(?=\S)([\s\S]*?\S)\1/.exec(rest);
    if (strong) {
      flush();
      out.push({ kind: "strong", children: inline(strong[2]) });
      i += strong[0].length;
      continue;
    }
    const del = /^~~(?=\S)([\s\S]*?\S)~~/.exec(rest);
    if (del) {
      flush();
      out.push({ kind: "del", children: inline(del[1]) });
      i += del[0].length;
      continue;
    }
    const em = /^(\*|_)(?=\S)([\s\S]*?\S)\1(?!\w)/.exec(rest);
    if (em && !(em[1] === "_" && /\w$/.test(plain))) {
      flush();
      out.push({ kind: "em", children: inline(em[2]) });
      i += em[0].length;
      continue;
    }
    plain += text[i++];
  }
  flush();
  return out;
}

// -- code highlighting: a few token kinds that read the same across the languages models write

export type Token = { kind: "keyword" | "string" | "comment" | "number" | "plain"; text: string };

const KEYWORDS = new Set(
  (
    "and as assert async await break case catch class const continue def default del do elif else enum " +
    "except export extends false finally fn for from func function if impl import in interface is " +
    "lambda let match mut new nil none not null or package pass pub raise return self select static " +
    "struct super switch this throw true try type typeof use var void where while with yield " +
    "True False None SELECT FROM WHERE INSERT INTO UPDATE DELETE CREATE TABLE JOIN ON AND OR NOT NULL " +
    "ORDER BY GROUP LIMIT VALUES SET AS echo export then fi done esac"
  ).split(" "),
);
const HASH_COMMENTS = new Set(["py", "python", "sh", "bash", "shell", "zsh", "yaml", "yml", "toml", "ruby", "rb", "r", "dockerfile", "make", "makefile", ""]);
const SLASH_COMMENTS = new Set(["js", "javascript", "ts", "typescript", "tsx", "jsx", "go", "rust", "rs", "java", "c", "cpp", "c++", "cs", "csharp", "kotlin", "swift", "php", "scala", "json5", ""]);
const DASH_COMMENTS = new Set(["sql", "lua", "haskell", "hs", "psql", "postgres", "postgresql"]);

export function highlight(code: string, lang: string): Token[] {
  const out: Token[] = [];
  const push = (kind: Token["kind"], text: string) => {
    const last = out[out.length - 1];
    if (kind === "plain" && last?.kind === "plain") last.text += text;
    else out.push({ kind, text });
  };
  let i = 0;
  while (i < code.length) {
    const rest = code.slice(i);
    let m: RegExpExecArray | null = null;
    if ((HASH_COMMENTS.has(lang) && (m = /^#[^\n]*/.exec(rest)) && !(lang === "" && i > 0 && /\S/.test(code[i - 1]))) ||
        (SLASH_COMMENTS.has(lang) && (m = /^(\/\/[^\n]*|\/\*[\s\S]*?(\*\/|$))/.exec(rest))) ||
        (DASH_COMMENTS.has(lang) && (m = /^--[^\n]*/.exec(rest)))) {
      push("comment", m[0]);
    } else if ((m = /^("""[\s\S]*?("""|$)|'''[\s\S]*?('''|$)|"(\\.|[^"\\\n])*"?|'(\\.|[^'\\\n])*'?|`(\\.|[^`\\])*`?)/.exec(rest))) {
      push("string", m[0]);
    } else if ((m = /^\b(0x[\da-f]+|\d[\d_]*(\.\d+)?(e[+-]?\d+)?)\b/i.exec(rest))) {
      push("number", m[0]);
    } else if ((m = /^[A-Za-z_$][\w$]*/.exec(rest))) {
      push(KEYWORDS.has(m[0]) ? "keyword" : "plain", m[0]);
    } else {
      m = /^[^A-Za-z_$"'`#/\-\d]+|^./s.exec(rest)!;
      push("plain", m[0]);
    }
    i += m[0].length;
  }
  return out;
}
