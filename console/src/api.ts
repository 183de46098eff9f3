// The API client. The access token lives in this object's memory only (never localStorage: a
// script injected into the page could read that); the refresh token is an HttpOnly cookie the
// server sets for its /auth/console routes (core/http/session_cookie.py), which no script
// reads. The access token is refreshed silently a minute before it expires, once when a request
// hears 401, and at start: a reload stays signed in.
import { readEvents, type SseEvent } from "./sse";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { loc?: unknown[]; msg?: string }[] = [],
  ) {
    super(message);
  }
}

interface AccessToken {
  access_token: string;
  expires_in: number;
}

// the console's session routes want it (a CSRF defence beside SameSite=Strict)
const CONSOLE = { "X-Agents-Console": "1" };

type Fetch = typeof fetch;
type Schedule = (run: () => void, ms: number) => unknown;
type Cancel = (handle: unknown) => void;

export class Api {
  private access: string | null = null;
  private timer: unknown = null;
  private refreshing: Promise<boolean> | null = null;
  /** Told when the session ends (sign-out, or a refresh the server refused). */
  onSignedOut: () => void = () => {};

  constructor(
    private readonly fetchImpl: Fetch = (...args) => fetch(...args),
    private readonly schedule: Schedule = (run, ms) => setTimeout(run, ms),
    private readonly cancel: Cancel = (handle) => clearTimeout(handle as number),
  ) {}

  get signedIn(): boolean {
    return this.access !== null;
  }

  async login(username: string, password: string): Promise<void> {
    this.keep(await this.send<AccessToken>("POST", "/auth/console/login", { username, password }, false, CONSOLE));
  }

  async register(username: string, email: string, password: string): Promise<void> {
    await this.send("POST", "/auth/register", { username, email, password }, false);
    await this.login(username, password);
  }

  /** Ends the login session on the server (every rotation of the cookie) and here. */
  async logout(): Promise<void> {
    await this.send("POST", "/auth/console/logout", undefined, false, CONSOLE).catch(() => {});
    this.forget();
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  /** A JSON request with the bearer token; one silent refresh and retry on 401. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await this.send<T>(method, path, body, true);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && (await this.refresh())) {
        return this.send<T>(method, path, body, true);
      }
      throw error;
    }
  }

  /** A multipart upload (artifacts). */
  async upload<T>(path: string, form: FormData): Promise<T> {
    const attempt = () =>
      this.fetchImpl(path, { method: "POST", headers: this.auth(), body: form }).then((r) =>
        this.json<T>(r),
      );
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && (await this.refresh())) {
        return attempt();
      }
      throw error;
    }
  }

  /** The bytes of a file the API serves (previews and downloads need the bearer token). */
  async blob(path: string): Promise<Blob> {
    const response = await this.fetchImpl(path, { headers: this.auth() });
    if (!response.ok) await this.json(response);
    return response.blob();
  }

  /** POST that answers server-sent events (a streamed run), or GET to follow one. */
  async stream(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    onEvent: (event: SseEvent) => void,
    signal?: AbortSignal,
    lastEventId?: number,
  ): Promise<void> {
    const headers: Record<string, string> = { ...this.auth(), Accept: "text/event-stream" };
    if (lastEventId !== undefined) headers["Last-Event-ID"] = String(lastEventId);
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const open = () =>
      this.fetchImpl(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    let response = await open();
    if (response.status === 401 && (await this.refresh())) {
      headers.Authorization = this.auth().Authorization;
      response = await open();
    }
    const type = response.headers.get("Content-Type") ?? "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      const answer = await this.json<unknown>(response);
      onEvent({ event: "execution", data: JSON.stringify(answer) });
      return;
    }
    await readEvents(response.body, onEvent);
  }

  /** A new access token for the session cookie (rotated by the server); false (and signed
   * out) when there is no session. At start, this is how a reload stays signed in. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.send<AccessToken>("POST", "/auth/console/refresh", undefined, false, CONSOLE)
      .then((token) => {
        this.keep(token);
        return true;
      })
      .catch(() => {
        this.forget();
        return false;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private keep(token: AccessToken): void {
    this.access = token.access_token;
    if (this.timer !== null) this.cancel(this.timer);
    const ms = Math.max(5, token.expires_in - 60) * 1000;
    this.timer = this.schedule(() => void this.refresh(), ms);
  }

  private forget(): void {
    const was = this.access !== null;
    this.access = null;
    if (this.timer !== null) this.cancel(this.timer);
    this.timer = null;
    if (was) this.onSignedOut();
  }

  private auth(): Record<string, string> {
    return this.access ? { Authorization: `Bearer ${this.access}` } : {};
  }

  private async send<T>(method: string, path: string, body: unknown, authed: boolean, extra: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { ...(authed ? this.auth() : {}), ...extra };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await this.fetchImpl(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return this.json<T>(response);
  }

  private async json<T>(response: Response): Promise<T> {
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (!response.ok) {
      const error = (parsed as { error?: { code: string; message: string; details?: [] } })?.error;
      throw new ApiError(
        response.status,
        error?.code ?? "http_error",
        error?.message ?? `HTTP ${response.status}`,
        error?.details ?? [],
      );
    }
    return parsed as T;
  }
}

/** What a failed call says to a person: the message, and each field the server named. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.details
      .map((d) => (d.loc?.length ? `${d.loc.slice(1).join(".")}: ${d.msg}` : d.msg))
      .filter(Boolean);
    return [error.message, ...fields].join(" — ");
  }
  return error instanceof Error ? error.message : String(error);
}

export const api = new Api();
