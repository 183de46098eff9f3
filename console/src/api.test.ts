import { describe, expect, it } from "vitest";
import { Api, ApiError } from "./api";

function answer(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

function fakeServer() {
  const calls: { path: string; auth?: string; body?: unknown }[] = [];
  let generation = 0;
  let accessValid = true;
  const fetchImpl = (async (path: string, init: RequestInit) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    const body = init.body ? JSON.parse(init.body as string) : undefined;
    calls.push({ path, auth: headers.Authorization, body });
    if (path === "/auth/login" || path === "/auth/refresh") {
      if (path === "/auth/refresh" && body.refresh_token !== `r${generation}`) {
        return answer(401, { error: { code: "invalid_token", message: "no", details: [] } });
      }
      generation += 1;
      accessValid = true;
      return answer(200, {
        access_token: `a${generation}`,
        refresh_token: `r${generation}`,
        expires_in: 1800,
      });
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
  });

  it("refreshes once on a 401 and retries, sharing one refresh between parallel calls", async () => {
    const server = fakeServer();
    const api = new Api(server.fetchImpl, () => 0, () => {});
    await api.login("ann", "pw");
    server.expire();
    const answers = await Promise.all([api.get("/a"), api.get("/b")]);
    expect(answers).toEqual([{ ok: true }, { ok: true }]);
    expect(server.calls.filter((c) => c.path === "/auth/refresh")).toHaveLength(1);
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
    // the server forgets the pair (another tab signed out): the next refresh fails
    (api as unknown as { refreshToken: string }).refreshToken = "stale";
    server.expire();
    await expect(api.get("/a")).rejects.toBeInstanceOf(ApiError);
    expect(signedOut).toBe(true);
    expect(api.signedIn).toBe(false);
  });
});
