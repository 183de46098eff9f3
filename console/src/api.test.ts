import { describe, expect, it } from "vitest";
import { Api, ApiError } from "./api";

function answer(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** The service's console routes: the refresh token is a cookie the page never sees (here, the
 * fake keeps it, as the browser would). */
function fakeServer() {
  const calls: { path: string; auth?: string; body?: unknown; console?: string }[] = [];
  let generation = 0;
  let cookie: string | null = null;
  let accessValid = true;
  const fetchImpl = (async (path: string, init: RequestInit) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    const body = init.body ? JSON.parse(init.body as string) : undefined;
    calls.push({ path, auth: headers.Authorization, body, console: headers["X-Agents-Console"] });
    if (path.startsWith("/auth/console/") && headers["X-Agents-Console"] !== "1") {
      return answer(403, { error: { code: "console_header_missing", message: "no", details: [] } });
    }
    if (path === "/auth/console/logout") {
      cookie = null;
      return new Response(null, { status: 204 });
    }
    if (path === "/auth/console/login" || path === "/auth/console/refresh") {
      if (path === "/auth/console/refresh" && cookie !== `r${generation}`) {
        return answer(401, { error: { code: "invalid_token", message: "no", details: [] } });
      }
      generation += 1;
      cookie = `r${generation}`;
      accessValid = true;
      return answer(200, { access_token: `a${generation}`, expires_in: 1800 });
    }
    if (!accessValid || headers.Authorization !== `Bearer a${generation}`) {
      return answer(401, { error: { code: "invalid_token", message: "expired", details: [] } });
    }
    return answer(200, { ok: true });
  }) as typeof fetch;
  return {
    calls,
    fetchImpl,
    expire: () => {
      accessValid = false;
    },
    dropCookie: () => {
      cookie = null;
    },
  };
}

describe("Api tokens", () => {
  it("keeps tokens in memory and schedules the refresh a minute before expiry", async () => {
    const server = fakeServer();
    const timers: number[] = [];
    const api = new Api(server.fetchImpl, (_run, ms) => timers.push(ms), () => {});
    await api.login("ann", "pw");
    expect(await api.get("/users/me")).toEqual({ ok: true });
    expect(server.calls.at(-1)?.auth).toBe("Bearer a1");
    expect(timers).toEqual([(1800 - 60) * 1000]);
    expect(globalThis.localStorage).toBeUndefined();
    // the refresh token never reaches the page: only the access token is in the answer
    expect(JSON.stringify(api)).not.toContain("r1");
  });

  it("stays signed in across a reload through the cookie, and signs out for good", async () => {
    const server = fakeServer();
    await new Api(server.fetchImpl, () => 0, () => {}).login("ann", "pw");
    const reloaded = new Api(server.fetchImpl, () => 0, () => {});
    expect(await reloaded.refresh()).toBe(true);
    expect(await reloaded.get("/users/me")).toEqual({ ok: true });
    expect(server.calls.filter((c) => c.path.startsWith("/auth/console/")).every((c) => c.console === "1")).toBe(true);
    await reloaded.logout();
    expect(reloaded.signedIn).toBe(false);
    expect(await new Api(server.fetchImpl, () => 0, () => {}).refresh()).toBe(false);
  });

  it("refreshes once on a 401 and retries, sharing one refresh between parallel calls", async () => {
    const server = fakeServer();
    const api = new Api(server.fetchImpl, () => 0, () => {});
    await api.login("ann", "pw");
    server.expire();
    const answers = await Promise.all([api.get("/a"), api.get("/b")]);
    expect(answers).toEqual([{ ok: true }, { ok: true }]);
    expect(server.calls.filter((c) => c.path === "/auth/console/refresh")).toHaveLength(1);
  });

  it("signs out when the refresh is refused", async () => {
    const server = fakeServer();
    const api = new Api(server.fetchImpl, () => 0, () => {});
    let signedOut = false;
    api.onSignedOut = () => {
      signedOut = true;
    };
    await api.login("ann", "pw");
    await api.refresh();
    server.calls.length = 0;
    // the session ended elsewhere (another tab signed out): the next refresh fails
    server.dropCookie();
    server.expire();
    await expect(api.get("/a")).rejects.toBeInstanceOf(ApiError);
    expect(signedOut).toBe(true);
    expect(api.signedIn).toBe(false);
  });
});
