// Knowledge bases: documents uploaded (each with its status as ingestion goes, and why one
// failed), text added, and a query box showing the ranked passages.
import { useEffect, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { ingesting, type DocumentStatus } from "../knowledge";
import { go } from "../router";
import { Alert, Field, Page, useLoad, when, type PageOf } from "../ui";

interface KnowledgeBase {
  id: string;
  name: string;
  description: string | null;
  embedding: { provider: string; model: string; dimensions: number };
  documents: number;
  chunks: number;
  created_at: string;
}
interface Doc {
  id: string;
  title: string;
  media_type: string;
  size_bytes: number;
  status: DocumentStatus;
  error: { code: string; message: string } | null;
  chunks: number;
  tokens: number;
  created_at: string;
}
interface Passage {
  chunk_id: number;
  document_id: string;
  title: string;
  position: number;
  text: string;
  score: number;
}

export function KnowledgeBases() {
  const list = useLoad(() => api.get<PageOf<KnowledgeBase>>("/knowledge-bases?limit=100"), []);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);
  async function create(event: Event) {
    event.preventDefault();
    setError(null);
    try {
      const made = await api.request<KnowledgeBase>("POST", "/knowledge-bases", {
        name: name.trim(),
        ...(description.trim() ? { description: description.trim() } : {}),
      });
      go(`knowledge/${made.id}`);
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <Page title="Knowledge">
      <p>Documents your agents search with <code>knowledge_search</code>. Attach a knowledge base to an agent in its definition.</p>
      <Alert message={list.error} />
      <ul class="cards">
        {list.data?.items.map((kb) => (
          <li key={kb.id} class="card">
            <a href={`#/knowledge/${kb.id}`}>{kb.name}</a>
            <p class="muted">{kb.documents} documents · {kb.chunks} passages · {kb.embedding.provider} {kb.embedding.model}</p>
            {kb.description && <p>{kb.description}</p>}
          </li>
        ))}
      </ul>
      <form class="card" onSubmit={create}>
        <h2>New knowledge base</h2>
        <Alert message={error} />
        <Field label="Name" id="kb-name" hint="letters, digits, spaces, _ . -">
          <input id="kb-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Description (optional)" id="kb-description">
          <input id="kb-description" maxLength={2000} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </Field>
        <button type="submit">Create</button>
      </form>
    </Page>
  );
}

const LABEL: Record<DocumentStatus, string> = {
  queued: "Queued",
  processing: "Reading and embedding…",
  ready: "Ready",
  failed: "Failed",
};

export function KnowledgeBaseDetail({ id }: { id: string }) {
  const kb = useLoad(() => api.get<KnowledgeBase>(`/knowledge-bases/${id}`), [id]);
  const docs = useLoad(() => api.get<PageOf<Doc>>(`/knowledge-bases/${id}/documents?limit=100`), [id]);
  const [error, setError] = useState<string | null>(null);
  const [uploading, setUploading] = useState<string[]>([]);
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  useEffect(() => {
    // follow ingestion while some document is on its way
    if (!docs.data || !ingesting(docs.data.items)) return;
    const timer = setTimeout(() => { docs.reload(); kb.reload(); }, 1500);
    return () => clearTimeout(timer);
  }, [docs.data]);

  async function upload(event: Event) {
    const input = event.currentTarget as HTMLInputElement;
    const files = Array.from(input.files ?? []);
    setError(null);
    for (const file of files) {
      setUploading((names) => [...names, file.name]);
      const form = new FormData();
      form.append("file", file);
      try {
        await api.upload(`/knowledge-bases/${id}/documents`, form);
      } catch (e) {
        setError(`${file.name}: ${describeError(e)}`);
      } finally {
        setUploading((names) => names.filter((n) => n !== file.name));
      }
      docs.reload();
    }
    input.value = "";
  }

  async function addText(event: Event) {
    event.preventDefault();
    setError(null);
    try {
      await api.request("POST", `/knowledge-bases/${id}/documents`, { title: title.trim(), text });
      setTitle("");
      setText("");
      docs.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }

  async function remove(doc: Doc) {
    if (!confirm(`Delete ${doc.title} and its passages?`)) return;
    try {
      await api.request("DELETE", `/knowledge-bases/${id}/documents/${doc.id}`);
      docs.reload();
      kb.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }

  async function removeBase() {
    if (!confirm(`Delete ${kb.data?.name} with all its documents?`)) return;
    try {
      await api.request("DELETE", `/knowledge-bases/${id}`);
      go("knowledge");
    } catch (e) {
      setError(describeError(e));
    }
  }

  const k = kb.data;
  return (
    <Page title={k?.name ?? "Knowledge base"}
      actions={k && <button type="button" class="secondary" onClick={removeBase}>Delete</button>}>
      <Alert message={kb.error ?? docs.error} />
      {k && <p class="muted">{k.documents} documents · {k.chunks} passages · embedded with {k.embedding.provider} {k.embedding.model} ({k.embedding.dimensions} dimensions) · <span>id <code>{k.id}</code></span></p>}
      <div class="card">
        <h2>Add documents</h2>
        <Alert message={error} />
        <Field label="Upload files" id="kb-upload" hint="text, Markdown, HTML or PDF; each is read, split into passages and embedded in the background">
          <input id="kb-upload" type="file" multiple accept=".txt,.md,.markdown,.html,.htm,.pdf,.csv,.json,text/*,application/pdf" onChange={upload} />
        </Field>
        {uploading.length > 0 && <p role="status">Uploading {uploading.join(", ")}…</p>}
        <form onSubmit={addText}>
          <Field label="Title" id="kb-text-title">
            <input id="kb-text-title" required maxLength={300} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          </Field>
          <Field label="Text" id="kb-text">
            <textarea id="kb-text" required rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          </Field>
          <button type="submit" class="secondary">Add text</button>
        </form>
      </div>
      <h2>Documents</h2>
      <table class="documents">
        <caption class="visually-hidden">Documents and how their ingestion went</caption>
        <thead><tr><th scope="col">Title</th><th scope="col">Status</th><th scope="col">Passages</th><th scope="col">Added</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          {docs.data?.items.map((d) => (
            <tr key={d.id}>
              <td>{d.title}<br /><small class="muted">{d.media_type} · {d.size_bytes} bytes</small></td>
              <td>
                <span class={`doc-status ${d.status}`}>{LABEL[d.status]}</span>
                {d.error && <small class="error">{d.error.message}</small>}
              </td>
              <td>{d.status === "ready" ? `${d.chunks} (${d.tokens} tokens)` : "—"}</td>
              <td>{when(d.created_at)}</td>
              <td><button type="button" class="secondary" aria-label={`Delete ${d.title}`} onClick={() => remove(d)}>Delete</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <QueryBox id={id} />
    </Page>
  );
}

function QueryBox({ id }: { id: string }) {
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState("hybrid");
  const [passages, setPassages] = useState<Passage[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function ask(event: Event) {
    event.preventDefault();
    setError(null);
    try {
      const answer = await api.request<{ passages: Passage[] }>("POST", `/knowledge-bases/${id}/query`, { query, mode, top_k: 8 });
      setPassages(answer.passages);
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <form class="card" onSubmit={ask} aria-label="Search this knowledge base">
      <h2>Try a query</h2>
      <Alert message={error} />
      <Field label="Query" id="kb-query">
        <input id="kb-query" required maxLength={2000} value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
      </Field>
      <Field label="Search by" id="kb-mode">
        <select id="kb-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value)}>
          <option value="hybrid">meaning and words (hybrid)</option>
          <option value="vector">meaning (vector)</option>
          <option value="text">words (full text)</option>
        </select>
      </Field>
      <button type="submit">Search</button>
      {passages && (
        <ol class="passages" aria-label="Ranked passages">
          {passages.length === 0 && <li>Nothing matches.</li>}
          {passages.map((p) => (
            <li key={p.chunk_id}>
              <strong>{p.title}</strong> <small class="muted">passage {p.position + 1} · score {p.score.toFixed(4)}</small>
              <p>{p.text}</p>
            </li>
          ))}
        </ol>
      )}
    </form>
  );
}
