// What an agent remembers about you: your memories with it, to correct or forget. Nobody else,
// the agent's owner included, sees them.
import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Alert, Field, useLoad, when, type PageOf } from "../ui";

interface Memory {
  id: string;
  text: string;
  source: "api" | "tool" | "extracted";
  updated_at: string;
}

const FROM: Record<Memory["source"], string> = {
  api: "you wrote it",
  tool: "the agent saved it",
  extracted: "drawn from a chat",
};

export function Memories({ agentId }: { agentId: string }) {
  const list = useLoad(() => api.get<PageOf<Memory>>(`/agents/${agentId}/memories?limit=100`), [agentId]);
  const [editing, setEditing] = useState<Record<string, string>>({});
  const [added, setAdded] = useState("");
  const [error, setError] = useState<string | null>(null);

  async function act(what: () => Promise<unknown>) {
    setError(null);
    try {
      await what();
      list.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }

  return (
    <details class="card">
      <summary><h2>What this agent remembers about you</h2></summary>
      <p class="muted">Only you see these. An agent whose memory is on reads the most relevant of them at the start of each run.</p>
      <Alert message={error ?? list.error} />
      <ul class="memories" aria-label="Your memories with this agent">
        {list.data?.items.length === 0 && <li class="muted">Nothing yet.</li>}
        {list.data?.items.map((m) =>
          m.id in editing ? (
            <li key={m.id}>
              <form onSubmit={(e) => {
                e.preventDefault();
                void act(async () => {
                  await api.request("PATCH", `/memories/${m.id}`, { text: editing[m.id] });
                  const { [m.id]: _done, ...rest } = editing;
                  setEditing(rest);
                });
              }}>
                <Field label="Memory" id={`memory-${m.id}`}>
                  <input id={`memory-${m.id}`} required maxLength={2000} value={editing[m.id]}
                    onInput={(e) => setEditing({ ...editing, [m.id]: e.currentTarget.value })} />
                </Field>
                <button type="submit">Save</button>{" "}
                <button type="button" class="secondary" onClick={() => {
                  const { [m.id]: _dropped, ...rest } = editing;
                  setEditing(rest);
                }}>Cancel</button>
              </form>
            </li>
          ) : (
            <li key={m.id}>
              {m.text} <small class="muted">({FROM[m.source]}, {when(m.updated_at)})</small>{" "}
              <button type="button" class="secondary" aria-label={`Edit: ${m.text}`}
                onClick={() => setEditing({ ...editing, [m.id]: m.text })}>Edit</button>{" "}
              <button type="button" class="secondary" aria-label={`Forget: ${m.text}`}
                onClick={() => act(() => api.request("DELETE", `/memories/${m.id}`))}>Forget</button>
            </li>
          ),
        )}
      </ul>
      <form onSubmit={(e) => {
        e.preventDefault();
        void act(async () => {
          await api.request("POST", `/agents/${agentId}/memories`, { text: added.trim() });
          setAdded("");
        });
      }}>
        <Field label="Tell it something to remember" id={`memory-new-${agentId}`}>
          <input id={`memory-new-${agentId}`} required maxLength={2000} value={added} onInput={(e) => setAdded(e.currentTarget.value)} />
        </Field>
        <button type="submit" class="secondary">Remember</button>
      </form>
    </details>
  );
}
