// One session's chat: its history from the event log, a new message streamed as the model
// writes it (text, tool calls and results inline), approvals decided in place, and files
// uploaded into the session (the agent's file tools see them under uploads/).
import { useEffect, useRef, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Alert, Field, Page, useLoad, when, type PageOf } from "../ui";

export interface RunEvent {
  seq: number;
  type: string;
  payload: Record<string, unknown>;
  execution_id?: string;
}

interface Artifact {
  id: string;
  name: string;
  content_type: string;
  size_bytes: number;
  created_at: string;
}

async function allEvents(sessionId: string): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  let cursor: string | null = null;
  do {
    const page: PageOf<RunEvent> = await api.get(
      `/sessions/${sessionId}/events?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    events.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return events;
}

/** Approval requests nobody has decided yet. */
export function undecided(events: RunEvent[]): RunEvent[] {
  const decided = new Set(
    events.filter((e) => e.type === "approval_decided").map((e) => e.payload.tool_call_id),
  );
  return events.filter((e) => e.type === "approval_requested" && !decided.has(e.payload.tool_call_id));
}

function EventItem({ event }: { event: RunEvent }) {
  const p = event.payload;
  switch (event.type) {
    case "user_message":
      return <li class="msg user"><span class="who">You</span><div>{typeof p.content === "string" ? p.content : JSON.stringify(p.content)}</div></li>;
    case "model_response":
      return p.text ? <li class="msg agent"><span class="who">Agent</span><div>{String(p.text)}</div></li> : null;
    case "tool_call":
      return <li class="tool-call"><span class="who">Tool call</span> <code>{String(p.tool_name)}</code> <code class="args">{JSON.stringify(p.args)}</code></li>;
    case "tool_result":
      return <li class="tool-result"><span class="who">Result</span> <code>{String(p.tool_name)}</code> ({String(p.outcome)}): {String(p.content)}</li>;
    case "approval_requested":
      return <li class="approval"><span class="who">Approval requested</span> <code>{String(p.tool_name)}</code> <code class="args">{JSON.stringify(p.args)}</code></li>;
    case "approval_decided":
      return <li class="approval"><span class="who">{p.approved ? "Approved" : "Denied"}</span> {p.reason ? String(p.reason) : ""}</li>;
    case "error":
      return <li class="error-event"><span class="who">Error</span> <span role="alert">{String(p.message ?? JSON.stringify(p))}</span></li>;
    default:
      return null;
  }
}

export function Chat({ id }: { id: string }) {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [live, setLive] = useState("");
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const end = useRef<HTMLDivElement>(null);
  const session = useLoad(() => api.get<{ agent_id: string; title: string | null }>(`/sessions/${id}`), [id]);

  const reload = () => allEvents(id).then(setEvents, (e) => setError(describeError(e)));
  useEffect(() => {
    void reload();
  }, [id]);
  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [events, live]);

  function onFrame(frame: { event: string; data: string }) {
    const data = JSON.parse(frame.data);
    if (frame.event === "text_delta") setLive((text) => text + data.delta);
    else if (frame.event === "execution") {
      if (data.error && !data.id) setError(describeError(new Error(data.error.message)));
    } else if (data.seq !== undefined) setEvents((list) => (list.some((e) => e.seq === data.seq) ? list : [...list, data]));
  }

  async function send(event: Event) {
    event.preventDefault();
    if (!input.trim()) return;
    setBusy(true);
    setError(null);
    setLive("");
    const content = input;
    setInput("");
    setEvents((list) => [...list, { seq: -1, type: "user_message", payload: { content } }]);
    try {
      await api.stream("POST", `/sessions/${id}/messages`, { content }, onFrame);
    } catch (e) {
      setError(describeError(e));
    } finally {
      await reload();
      setLive("");
      setBusy(false);
    }
  }

  async function decide(request: RunEvent, approved: boolean) {
    const executionId = request.execution_id!;
    const pending = undecided(events).filter((e) => e.execution_id === executionId);
    setBusy(true);
    setError(null);
    try {
      await api.request("POST", `/executions/${executionId}/approvals`, {
        decisions: pending.map((e) => ({
          tool_call_id: e.payload.tool_call_id,
          approved,
          ...(reasons[String(e.payload.tool_call_id)] ? { reason: reasons[String(e.payload.tool_call_id)] } : {}),
        })),
      });
      // the run resumes through the queue: follow its events as they are written
      await api.stream("GET", `/executions/${executionId}/events`, undefined, onFrame);
    } catch (e) {
      setError(describeError(e));
    } finally {
      await reload();
      setBusy(false);
    }
  }

  const waiting = undecided(events);
  return (
    <Page title={session.data?.title || "Chat"}
      actions={session.data && <a href={`#/agents/${session.data.agent_id}`}>The agent</a>}>
      <ol class="chat" aria-live="polite" aria-label="Conversation">
        {events.map((e) => <EventItem key={`${e.seq}-${e.type}`} event={e} />)}
        {live && <li class="msg agent live"><span class="who">Agent</span><div>{live}</div></li>}
      </ol>
      <div ref={end} />
      {waiting.map((request) => {
        const callId = String(request.payload.tool_call_id);
        return (
          <div class="card approval-box" key={callId} role="group" aria-label={`Approve ${String(request.payload.tool_name)}?`}>
            <p>The agent wants to call <code>{String(request.payload.tool_name)}</code> with <code>{JSON.stringify(request.payload.args)}</code>.</p>
            <Field label="Reason (optional)" id={`reason-${callId}`}>
              <input id={`reason-${callId}`} value={reasons[callId] ?? ""}
                onInput={(e) => setReasons({ ...reasons, [callId]: e.currentTarget.value })} />
            </Field>
            <button type="button" disabled={busy} onClick={() => decide(request, true)}>Approve</button>{" "}
            <button type="button" class="secondary" disabled={busy} onClick={() => decide(request, false)}>Deny</button>
          </div>
        );
      })}
      <Alert message={error} />
      <form onSubmit={send} class="composer">
        <Field label="Message" id="message">
          <textarea id="message" rows={2} value={input} disabled={busy}
            onInput={(e) => setInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey) {
                e.preventDefault();
                (e.currentTarget.form as HTMLFormElement).requestSubmit();
              }
            }} />
        </Field>
        <button type="submit" disabled={busy || waiting.length > 0}>{busy ? "Working…" : "Send"}</button>
      </form>
      <SessionFiles sessionId={id} />
    </Page>
  );
}

function SessionFiles({ sessionId }: { sessionId: string }) {
  const files = useLoad(() => api.get<PageOf<Artifact>>(`/artifacts?session_id=${sessionId}&limit=100`), [sessionId]);
  const [error, setError] = useState<string | null>(null);
  async function upload(event: Event) {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    const form = new FormData();
    form.append("session_id", sessionId);
    form.append("file", file);
    setError(null);
    try {
      await api.upload("/artifacts", form);
      input.value = "";
      files.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }
  return (
    <div class="card">
      <h2>Files of this chat</h2>
      <Field label="Upload a file" id="upload" hint="the agent reads it at uploads/<name>">
        <input id="upload" type="file" onChange={upload} />
      </Field>
      <Alert message={error ?? files.error} />
      <ul aria-label="Files">
        {files.data?.items.map((f) => (
          <li key={f.id}><a href={`#/artifacts/${f.id}`}>{f.name}</a> · {f.content_type} · {f.size_bytes} bytes · {when(f.created_at)}</li>
        ))}
      </ul>
    </div>
  );
}
