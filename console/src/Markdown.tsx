// Markdown rendered as elements (see markdown.ts): code blocks highlighted, each with a copy
// button. Nothing is ever set as HTML.
import { useState } from "preact/hooks";
import { highlight, parseMarkdown, type Block, type Inline } from "./markdown";

export function Markdown({ text }: { text: string }) {
  return <div class="md">{parseMarkdown(text).map((block, n) => <BlockView key={n} block={block} />)}</div>;
}

function BlockView({ block }: { block: Block }) {
  switch (block.kind) {
    case "p":
      return <p><Inlines items={block.children} /></p>;
    case "h": {
      // headings inside an answer sit below the page's own h1/h2
      const Tag = `h${Math.min(6, block.level + 2)}` as "h3";
      return <Tag><Inlines items={block.children} /></Tag>;
    }
    case "code":
      return <CodeBlock lang={block.lang} code={block.text} />;
    case "list": {
      const items = block.items.map((item, n) => <li key={n}>{item.map((b, k) => <BlockView key={k} block={b} />)}</li>);
      return block.ordered ? <ol start={block.start}>{items}</ol> : <ul>{items}</ul>;
    }
    case "quote":
      return <blockquote>{block.children.map((b, n) => <BlockView key={n} block={b} />)}</blockquote>;
    case "table":
      return (
        <div class="table-wrap">
          <table>
            <thead><tr>{block.head.map((cell, n) => <th key={n} scope="col"><Inlines items={cell} /></th>)}</tr></thead>
            <tbody>{block.rows.map((row, r) => <tr key={r}>{row.map((cell, n) => <td key={n}><Inlines items={cell} /></td>)}</tr>)}</tbody>
          </table>
        </div>
      );
    case "hr":
      return <hr />;
  }
}

function Inlines({ items }: { items: Inline[] }) {
  return <>{items.map((item, n) => <InlineView key={n} item={item} />)}</>;
}

function InlineView({ item }: { item: Inline }) {
  switch (item.kind) {
    case "text":
      return <>{item.text}</>;
    case "code":
      return <code>{item.text}</code>;
    case "strong":
      return <strong><Inlines items={item.children} /></strong>;
    case "em":
      return <em><Inlines items={item.children} /></em>;
    case "del":
      return <del><Inlines items={item.children} /></del>;
    case "link":
      return <a href={item.href} target="_blank" rel="noopener noreferrer nofollow"><Inlines items={item.children} /></a>;
    case "br":
      return <br />;
  }
}

/** Copies `text`; says "Copied" for a moment. `label`: what the button says (visible). */
export function CopyButton({ text, label = "Copy", hidden }: { text: string; label?: string; hidden?: string }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  }
  return (
    <button type="button" class="secondary small" onClick={copy}>
      {copied ? "Copied" : label}{hidden && <span class="sr-only"> {hidden}</span>}
    </button>
  );
}

export function CodeBlock({ lang, code }: { lang: string; code: string }) {
  return (
    <div class="code-block">
      <div class="code-head">
        <span class="muted">{lang || "code"}</span>
        <CopyButton text={code} hidden={lang || "code"} />
      </div>
      <pre tabIndex={0}><code>{highlight(code, lang).map((t, n) => (t.kind === "plain" ? t.text : <span key={n} class={`tok-${t.kind}`}>{t.text}</span>))}</code></pre>
    </div>
  );
}
