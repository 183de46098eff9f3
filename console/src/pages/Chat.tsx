// One session's chat: its history from the event log, a new message streamed as the model
// writes it (markdown; each tool call folded with its approval and result), approvals decided
// in place, a Stop that cancels the run, each answer's tokens, cost and time, and files
// uploaded into the session (the agent's file tools see them under uploads/).
import { Fragment } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { sourcesOf } from "../knowledge";
import { Markdown } from "../Markdown";
import { Alert, Field, Page, useLoad, when, type PageOf } from "../ui";
import { Conversations } from "./Conversations";
import { turnStats, type Execution, type Turn } from "../turns";

export interface RunEvent {
  seq: number;
  type: string;
  payload: Record<string, unknown>;
  execution_id?: string;
  created_at?: string;
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

function text(content: unknown): string {
  return typeof content === "string" ? content : JSON.stringify(content);
}

function Sources({ tool, content }: { tool: unknown; content: unknown }) {
  const sources = sourcesOf(tool, content);
  if (sources.length === 0) return null;
  return (
    <div class="sources">
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
    </div>
  );
}

/** A tool call with what became of it: its approval (asked, decided, why) and its result. */
function ToolCallItem({ call, all }: { call: RunEvent; all: RunEvent[] }) {
  const id = call.payload.tool_call_id;
  const mine = (type: string) => all.filter((e) => e.type === type && e.payload.tool_call_id === id);
  const asked = mine("approval_requested")[0];
  const decided = mine("approval_decided").at(-1);
  const result = mine("tool_result").at(-1);
  const tool = String(call.payload.tool_name);
  const sources = result && sourcesOf(result.payload.tool_name, result.payload.content).length > 0;
  return (
    <li class="tool-call">
      <details open={!result || !!asked || !!sources}>
        <summary>
          <span class="who">Tool</span> <code>{tool}</code>{" "}
          <span class={`badge ${result ? String(result.payload.outcome) : asked && !decided ? "waiting" : "running"}`}>
            {result ? String(result.payload.outcome) : asked && !decided ? "waiting for approval" : "running"}
          </span>
        </summary>
        <code class="args">{JSON.stringify(call.payload.args)}</code>
        {asked && decided && (
          <p class="approval">{decided.payload.approved ? "Approved" : "Denied"}{decided.payload.reason ? `: ${String(decided.payload.reason)}` : ""}</p>
        )}
        {result && (sources ? <Sources tool={result.payload.tool_name} content={result.payload.content} /> : (
          <div class="tool-result"><span class="muted">{tool} → {String(result.payload.outcome)}:</span> <span class="result-text">{text(result.payload.content)}</span></div>
        ))}
      </details>
    </li>
  );
}

function EventItem({ event, all, stats }: { event: RunEvent; all: RunEvent[]; stats?: Turn }) {
  const p = event.payload;
  switch (event.type) {
    case "user_message":
      return <li class="msg user"><span class="who">You</span><div class="said">{text(p.content)}</div></li>;
    case "model_response":
      return p.text ? (
        <li class="msg agent">
          <span class="who">Agent</span>
          <Markdown text={String(p.text)} />
          {stats && <small class="turn-stats">{stats.summary}</small>}
        </li>
      ) : null;
    case "tool_call":
      // a call is shown once, where it was first made (a resumed run may tell it again)
      return all.find((e) => e.type === "tool_call" && e.payload.tool_call_id === p.tool_call_id) === event ? <ToolCallItem call={event} all={all} /> : null;
    case "tool_result":
      // shown with its call; a result whose call is not in view stands alone
      return all.some((e) => e.type === "tool_call" && e.payload.tool_call_id === p.tool_call_id) ? null : (
        <li class="tool-result"><span class="who">Result</span> <code>{String(p.tool_name)}</code> ({String(p.outcome)}): {text(p.content)}</li>
      );
    case "status":
      return p.status === "cancelled" ? <li class="status-event muted">Stopped</li> : null;
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

const STOP_WAIT_MS = 3000;

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/** Where each turn's tokens, cost and time are shown: under its last answer, or (a turn that
 * ended without one, stopped or failed) under its last event. */
function answerSeqs(events: RunEvent[]): Map<number, string> {
  const answered = new Map<string, number>();
  const last = new Map<string, number>();
  for (const e of events) {
    if (!e.execution_id) continue;
    last.set(e.execution_id, e.seq);
    if (e.type === "model_response" && e.payload.text) answered.set(e.execution_id, e.seq);
  }
  return new Map([...last].map(([execution, seq]) => [answered.get(execution) ?? seq, execution]));
}

export function Chat({ id }: { id: string }) {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [live, setLive] = useState("");
  const [input, setInput] = useState("");
  const [busy, setBusy] = useState(false);
  const [stopping, setStopping] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reasons, setReasons] = useState<Record<string, string>>({});
  // each pending call's own decision, sent when every call of its run has one
  const [choices, setChoices] = useState<Record<string, boolean>>({});
  const end = useRef<HTMLDivElement>(null);
  const composer = useRef<HTMLFormElement>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  // the run being followed: its id (from the stream's first frame) and how to stop following
  const running = useRef<{ id: string | null; stream: AbortController } | null>(null);
  const session = useLoad(() => api.get<{ agent_id: string; title: string | null }>(`/sessions/${id}`), [id]);
  const runs = useLoad(() => api.get<PageOf<Execution>>(`/executions?session_id=${id}&limit=100`), [id]);
  const stats = turnStats(runs.data?.items ?? []);
  const answers = answerSeqs(events);

  const reload = () => {
    runs.reload();
    return allEvents(id).then(setEvents, (e) => setError(describeError(e)));
  };
  useEffect(() => {
    setEvents([]);
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
  useEffect(() => {
    if (!busy) box.current?.focus();
  }, [busy, id]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && running.current) void stop();
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  function onFrame(frame: { event: string; data: string }): boolean {
    const data = JSON.parse(frame.data);
    if (frame.event === "text_delta") setLive((text) => text + data.delta);
    else if (frame.event === "execution_started") {
      if (running.current) running.current.id = String(data.id);
    } else if (frame.event === "execution") {
      if (data.error && !data.id) {
        setError(describeError(new Error(data.error.message)));
        return false;
      }
    } else if (frame.event === "error") setError(String(data.message ?? frame.data));
    else if (data.seq !== undefined) setEvents((list) => (list.some((e) => e.seq === data.seq) ? list : [...list, data]));
    return true;
  }

  /** Stop: the run is cancelled (it stops within a second, mid-answer, and its stream ends
   * saying so); followed no longer than STOP_WAIT_MS after that. */
  async function stop() {
    const run = running.current;
    if (!run) return;
    setStopping(true);
    try {
      if (!run.id) throw new Error("not started");
      await api.request("POST", `/executions/${run.id}/cancel`);
      setTimeout(() => run.stream.abort(), STOP_WAIT_MS);
    } catch (e) {
      if (!(e instanceof Error && e.message === "not started")) setError(describeError(e));
      run.stream.abort();
    }
  }

  async function say(content: string) {
    setBusy(true);
    setError(null);
    setLive("");
    setEvents((list) => [...list, { seq: -1, type: "user_message", payload: { content } }]);
    const stream = new AbortController();
    running.current = { id: null, stream };
    let accepted = false;
    try {
      await api.stream("POST", `/sessions/${id}/messages`, { content }, (frame) => {
        accepted = onFrame(frame) || accepted;
      }, stream.signal);
    } catch (e) {
      if (!isAbort(e)) setError(describeError(e));
    } finally {
      running.current = null;
      // a message the service never took (a 429, the network) is still the draft
      if (!accepted) setInput((typed) => typed || content);
      await reload();
      setLive("");
      setBusy(false);
      setStopping(false);
      session.reload(); // the first message names the chat
    }
  }

  function send(event: Event) {
    event.preventDefault();
    const content = input;
    if (busy || !content.trim()) return;
    setInput("");
    void say(content);
  }

  const lastSaid = [...events].reverse().find((e) => e.type === "user_message" && e.seq > 0);
  const canRegenerate = !busy && waiting.length === 0 && lastSaid !== undefined && events.at(-1)?.type !== "user_message";

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
    running.current = { id: executionId, stream: following };
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
      running.current = null;
      following.abort();
      await reload();
      setBusy(false);
      setStopping(false);
    }
  }

  return (
    <div class="chat-layout">
      <aside class="chat-side" aria-label="Your chats">
        <details class="side-toggle" open={matchMedia?.("(min-width: 52rem)").matches ?? true}>
          <summary>Chats</summary>
          <Conversations current={id} named={session.data?.title ?? undefined} compact />
        </details>
      </aside>
      <div class="chat-main">
        <Page title={session.data?.title || "New chat"}
          actions={session.data && <a href={`#/agents/${session.data.agent_id}`}>The agent</a>}>
          <ol class="chat" aria-label="Conversation">
            {events.map((e) => {
              const turn = answers.has(e.seq) ? stats[answers.get(e.seq)!] : undefined;
              const answer = e.type === "model_response" && !!e.payload.text;
              return (
                <Fragment key={`${e.seq}-${e.type}`}>
                  <EventItem event={e} all={events} stats={answer ? turn : undefined} />
                  {turn && !answer && <li class="turn-stats-only"><small class="turn-stats">{turn.summary}</small></li>}
                </Fragment>
              );
            })}
            {live && <li class="msg agent live"><span class="who">Agent</span><Markdown text={live} /></li>}
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
            <p class="working" role="status">{busy ? (stopping ? "Stopping…" : <><span class="dots" aria-hidden="true" /> The agent is working…</>) : ""}</p>
            <Field label="Message" id="message" hint="Enter sends · Shift+Enter for a new line · Esc stops">
              <textarea id="message" ref={box} rows={2} value={input}
                onInput={(e) => setInput(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                    e.preventDefault();
                    (e.currentTarget.form as HTMLFormElement).requestSubmit();
                  }
                }} />
            </Field>
            <div class="row composer-actions">
              {busy ? (
                <button type="button" class="danger" onClick={() => void stop()} disabled={stopping}>Stop</button>
              ) : (
                <button type="submit" disabled={waiting.length > 0}>Send</button>
              )}
              {canRegenerate && (
                <button type="button" class="secondary" title="Send your last message again"
                  onClick={() => void say(text(lastSaid!.payload.content))}>Regenerate</button>
              )}
            </div>
          </form>
          <SessionFiles sessionId={id} />
        </Page>
      </div>
    </div>
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
