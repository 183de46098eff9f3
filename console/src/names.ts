// Names instead of ids: the agents the user can see, by id (loaded once per page view).
import { useEffect, useState } from "preact/hooks";
import { api } from "./api";
import type { PageOf } from "./ui";

interface AgentName {
  id: string;
  name: string;
  display_name: string | null;
}

let cached: Promise<Record<string, string>> | null = null;
let loadedAt = 0;

export function agentNames(): Promise<Record<string, string>> {
  // a few seconds old at most: an agent made or renamed meanwhile shows by its new name
  if (Date.now() - loadedAt > 10_000) cached = null;
  loadedAt = cached ? loadedAt : Date.now();
  cached ??= api.get<PageOf<AgentName>>("/agents?limit=100").then(
    (page) => Object.fromEntries(page.items.map((a) => [a.id, a.display_name || a.name])),
    () => ((cached = null), {}),
  );
  return cached;
}

export function useAgentNames(): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    let live = true;
    void agentNames().then((n) => live && setNames(n));
    return () => {
      live = false;
    };
  }, []);
  return names;
}
