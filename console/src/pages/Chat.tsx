// One session's chat: its history from the event log, a new message streamed as the model
// writes it (text, tool calls and results inline), approvals decided in place, and files
// uploaded into the session (the agent's file tools see them under uploads/).
import { useEffect, useRef, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { sourcesOf } from "../knowledge";
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
    case "tool_result": {
      const sources = sourcesOf(p.tool_name, p.content);
      if (sources.length > 0) {
        return (
          <li class="sources">
            <span class="who">Sources</span>
            <ol aria-label="Passages the agent was given">
              {sources.map((s) => (
                <li key={s.chunk_id}>
                  <details>
                    <summary>{s.title} <small class="muted">passage {s.position + 1}</small></summary>
                    <p>{s.text}</p>
                  </details>
                </li>
              ))}
            </ol>
          </li>
        );
      }
      return <li class="tool-result"><span class="who">Result</span> <code>{String(p.tool_name)}</code> ({String(p.outcome)}): {String(p.content)}</li>;
    }
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

/** The calls of one run that wait together: the service takes their decisions in one request. */
function sameRun(events: RunEvent[], request: RunEvent): RunEvent[] {
  return undecided(events).filter((e) => e.execution_id === request.execution_id);
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

export function Chat({ id }: { id: string }) {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [live, setLive] = useState("");
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reasons, setReasons] = useState<Record<string, string>>({});
  // each pending call's own decision, sent when every call of its run has one
  const [choices, setChoices] = useState<Record<string, boolean>>({});
  const end = useRef<HTMLDivElement>(null);
  const composer = useRef<HTMLFormElement>(null);
  const session = useLoad(() => api.get<{ agent_id: string; title: string | null }>(`/sessions/${id}`), [id]);

  const reload = () => allEvents(id).then(setEvents, (e) => setError(describeError(e)));
  useEffect(() => {
    void reload();
  }, [id]);
  const waiting = undecided(events);
  useEffect(() => {
    // the newest message, a pending call or an error: in view above the sticky composer
    const marker = end.current;
    if (!marker) return;
    marker.style.scrollMarginBottom = `${(composer.current?.offsetHeight ?? 0) + 16}px`;
    marker.scrollIntoView?.({ block: "end" });
  }, [events, live, error, waiting.length]);

  function onFrame(frame: { event: string; data: string }): boolean {
    const data = JSON.parse(frame.data);
    if (frame.event === "text_delta") setLive((text) => text + data.delta);
    else if (frame.event === "execution") {
      if (data.error && !data.id) {
        setError(describeError(new Error(data.error.message)));
        return false;
      }
    } else if (frame.event === "error") setError(String(data.message ?? frame.data));
    else if (data.seq !== undefined) setEvents((list) => (list.some((e) => e.seq === data.seq) ? list : [...list, data]));
    return true;
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
    let accepted = false;
    try {
      await api.stream("POST", `/sessions/${id}/messages`, { content }, (frame) => {
        accepted = onFrame(frame) || accepted;
      });
    } catch (e) {
      setError(describeError(e));
    } finally {
      // a message the service never took (a 429, the network) is still the draft
      if (!accepted) setInput((typed) => typed || content);
      await reload();
      setLive("");
      setBusy(false);
    }
  }

  function choose(request: RunEvent, approved: boolean) {
    const chosen = { ...choices, [String(request.payload.tool_call_id)]: approved };
    setChoices(chosen);
    const calls = sameRun(events, request);
    if (calls.every((e) => String(e.payload.tool_call_id) in chosen)) void decide(request.execution_id!, calls, chosen);
  }

  async function decide(executionId: string, calls: RunEvent[], chosen: Record<string, boolean>) {
    setBusy(true);
    setError(null);
    const following = new AbortController();
    try {
      await api.request("POST", `/executions/${executionId}/approvals`, {
        decisions: calls.map((e) => {
          const callId = String(e.payload.tool_call_id);
          const reason = reasons[callId]?.trim();
          return { tool_call_id: callId, approved: chosen[callId], ...(reason ? { reason } : {}) };
        }),
      });
      // the run resumes through the queue: follow it from what is shown until it ends or asks again
      const shown = Math.max(0, ...events.filter((e) => e.execution_id === executionId).map((e) => e.seq));
      await api.stream("GET", `/executions/${executionId}/events`, undefined, (frame) => {
        onFrame(frame);
        if (frame.event === "approval_requested") following.abort();
      }, following.signal, shown);
    } catch (e) {
      if (!isAbort(e)) {
        setError(describeError(e));
        // not taken: each call is to be decided again (the reasons stay)
        setChoices((all) => Object.fromEntries(Object.entries(all).filter(([k]) => !calls.some((c) => String(c.payload.tool_call_id) === k))));
      }
    } finally {
      following.abort();
      await reload();
      setBusy(false);
    }
  }

  return (
    <Page title={session.data?.title || "Chat"}
      actions={session.data && <a href={`#/agents/${session.data.agent_id}`}>The agent</a>}>
      <ol class="chat" aria-live="polite" aria-label="Conversation">
        {events.map((e) => <EventItem key={`${e.seq}-${e.type}`} event={e} />)}
        {live && <li class="msg agent live"><span class="who">Agent</span><div>{live}</div></li>}
      </ol>
      {waiting.map((request) => {
        const callId = String(request.payload.tool_call_id);
        const tool = String(request.payload.tool_name);
        const chosen = choices[callId];
        const others = sameRun(events, request).length - 1;
        return (
          <div class="card approval-box" key={callId} role="group" aria-label={`Approve ${tool}?`}>
            <p>The agent wants to call <code>{tool}</code> with <code>{JSON.stringify(request.payload.args)}</code>.</p>
            <Field label={`Reason for ${tool} (optional)`} id={`reason-${callId}`}>
              <input id={`reason-${callId}`} value={reasons[callId] ?? ""} disabled={busy}
                onInput={(e) => setReasons({ ...reasons, [callId]: e.currentTarget.value })} />
            </Field>
            {chosen === undefined ? (
              <>
                <button type="button" disabled={busy} onClick={() => choose(request, true)}>Approve</button>{" "}
                <button type="button" class="secondary" disabled={busy} onClick={() => choose(request, false)}>Deny</button>
              </>
            ) : (
              <p class="chosen">
                {chosen ? "You approve this call" : "You deny this call"}
                {busy ? " — sending…" : ` — sent once you decide the other call${others > 1 ? "s" : ""}.`}{" "}
                {!busy && (
                  <button type="button" class="secondary" onClick={() => {
                    const { [callId]: _dropped, ...rest } = choices;
                    setChoices(rest);
                  }}>Change</button>
                )}
              </p>
            )}
          </div>
        );
      })}
      <div ref={end} />
      <form onSubmit={send} class="composer" ref={composer}>
        <Alert message={error} />
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
