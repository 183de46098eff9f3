// The user's chats across agents: newest first, found by title, renamed, archived or deleted.
// A chat is named by its first message until someone renames it.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { go } from "../router";
import { Alert, Page, when, type PageOf } from "../ui";
import { useAgentNames } from "../names";

export interface SessionRow {
  id: string;
  agent_id: string;
  title: string;
  status: "active" | "archived";
  created_at: string;
  updated_at: string;
}

/** `current`: the chat on screen; `named`: its title (the list reloads when it changes). */
export function Conversations({ current, named, compact = false }: { current?: string; named?: string; compact?: boolean }) {
  const [q, setQ] = useState("");
  const [archived, setArchived] = useState(false);
  const [rows, setRows] = useState<SessionRow[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [title, setTitle] = useState("");
  const names = useAgentNames();
  const search = useRef<HTMLInputElement>(null);

  const load = () => {
    const params = new URLSearchParams({ limit: "100", status: archived ? "archived" : "active" });
    if (q.trim()) params.set("q", q.trim());
    return api.get<PageOf<SessionRow>>(`/sessions?${params}`).then(
      (page) => (setRows(page.items), setError(null)),
      (e) => setError(describeError(e)),
    );
  };
  useEffect(() => {
    const timer = setTimeout(() => void load(), 200);
    return () => clearTimeout(timer);
  }, [q, archived, current, named]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && e.target.closest("input, textarea, select");
      if (e.key === "/" && !typing) {
        e.preventDefault();
        search.current?.focus();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  async function act(run: () => Promise<unknown>) {
    setError(null);
    try {
      await run();
      await load();
    } catch (e) {
      setError(describeError(e));
    }
  }

  const rename = (row: SessionRow) =>
    act(() => api.request("PATCH", `/sessions/${row.id}`, { title: title.trim() })).then(() => setRenaming(null));
  const archive = (row: SessionRow) =>
    act(() => api.request("PATCH", `/sessions/${row.id}`, { status: row.status === "archived" ? "active" : "archived" }));
  const remove = (row: SessionRow) => {
    if (!confirm(`Delete “${row.title || "Untitled chat"}” with its messages and files?`)) return;
    void act(() => api.request("DELETE", `/sessions/${row.id}`)).then(() => {
      if (row.id === current) go("sessions");
    });
  };

  const list = (
    <div class="conversations">
      <div class="field">
        <label for={compact ? "chat-search-side" : "chat-search"}>Search chats</label>
        <input id={compact ? "chat-search-side" : "chat-search"} ref={search} type="search" value={q}
          placeholder="Title contains… ( / )" onInput={(e) => setQ(e.currentTarget.value)} />
      </div>
      <label class="check"><input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} /> Archived</label>
      <Alert message={error} />
      <ul class="chat-list" aria-label="Chats">
        {rows.map((row) => (
          <li key={row.id} class={row.id === current ? "current" : undefined}>
            {renaming === row.id ? (
              <form class="rename" onSubmit={(e) => { e.preventDefault(); void rename(row); }}>
                <label class="sr-only" for={`title-${row.id}`}>New title</label>
                <input id={`title-${row.id}`} value={title} maxLength={200} autoFocus
                  onInput={(e) => setTitle(e.currentTarget.value)}
                  onKeyDown={(e) => e.key === "Escape" && setRenaming(null)} />
                <button type="submit" class="small">Save</button>
              </form>
            ) : (
              <a href={`#/sessions/${row.id}`} aria-current={row.id === current ? "page" : undefined}>
                <span class="chat-title">{row.title || "Untitled chat"}</span>
                <small class="muted">{names[row.agent_id] ?? "an agent"} · {when(row.updated_at)}</small>
              </a>
            )}
            <span class="chat-actions">
              <button type="button" class="link small" aria-label={`Rename ${row.title || "Untitled chat"}`}
                onClick={() => { setRenaming(row.id); setTitle(row.title); }}>Rename</button>
              <button type="button" class="link small" aria-label={`${row.status === "archived" ? "Unarchive" : "Archive"} ${row.title || "Untitled chat"}`}
                onClick={() => void archive(row)}>{row.status === "archived" ? "Unarchive" : "Archive"}</button>
              <button type="button" class="link small danger-link" aria-label={`Delete ${row.title || "Untitled chat"}`}
                onClick={() => remove(row)}>Delete</button>
            </span>
          </li>
        ))}
        {rows.length === 0 && !error && <li class="muted">{q ? "No chat has that in its title." : archived ? "No archived chat." : "No chat yet: start one from an agent."}</li>}
      </ul>
    </div>
  );
  return compact ? list : <Page title="Chats">{list}</Page>;
}
