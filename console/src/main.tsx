import "./styles.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api } from "./api";
import { go, useRoute } from "./router";
import { AdminUsers, ApiKeys, Credentials, Usage } from "./pages/Account";
import { AgentDetail } from "./pages/AgentDetail";
import { Agents, NewAgent } from "./pages/Agents";
import { ArtifactDetail, Artifacts } from "./pages/Artifacts";
import { Chat } from "./pages/Chat";
import { Conversations } from "./pages/Conversations";
import { Shortcuts } from "./shortcuts";
import { ExecutionDetail, Executions } from "./pages/Executions";
import { KnowledgeBaseDetail, KnowledgeBases } from "./pages/Knowledge";
import { ListingDetail, Marketplace } from "./pages/Marketplace";
import { SignIn } from "./pages/SignIn";
import { MeContext, type Me } from "./ui";


function Content({ route }: { route: string[] }) {
  const [section, id] = route;
  switch (section) {
    case "agents":
      return id === "new" ? <NewAgent /> : id ? <AgentDetail id={id} /> : <Agents />;
    case "sessions":
      return id ? <Chat id={id} /> : <Conversations />;
    case "executions":
      return id ? <ExecutionDetail id={id} /> : <Executions />;
    case "artifacts":
      return id ? <ArtifactDetail id={id} /> : <Artifacts />;
    case "knowledge":
      return id ? <KnowledgeBaseDetail id={id} /> : <KnowledgeBases />;
    case "marketplace":
      return id ? <ListingDetail id={id} /> : <Marketplace />;
    case "keys":
      return <ApiKeys />;
    case "credentials":
      return <Credentials />;
    case "usage":
      return <Usage />;
    case "users":
      return <AdminUsers />;
    default:
      return <Agents />;
  }
}

const NAV: [string, string][] = [
  ["agents", "Agents"],
  ["sessions", "Chats"],
  ["executions", "Executions"],
  ["artifacts", "Artifacts"],
  ["knowledge", "Knowledge"],
  ["marketplace", "Marketplace"],
  ["keys", "API keys"],
  ["credentials", "Credentials"],
  ["usage", "Usage"],
];

function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null>(null);
  const [resuming, setResuming] = useState(true);
  const signedIn = () => api.get<Me>("/users/me").then(setMe);
  useEffect(() => {
    api.onSignedOut = () => setMe(null);
    // a reload: the session cookie, if any, gives a new access token
    void api.refresh().then((ok) => (ok ? signedIn() : undefined)).catch(() => undefined).finally(() => setResuming(false));
  }, []);
  if (resuming && !me) return <main id="main"><p role="status" class="muted">Loading…</p></main>;
  if (!me) {
    return (
      <main id="main">
        <SignIn onSignedIn={() => void signedIn()} />
      </main>
    );
  }
  const nav = me.role === "admin" ? [...NAV, ["users", "Users"] as [string, string]] : NAV;
  return (
    <MeContext.Provider value={me}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to content</a>
      <header class="top">
        <strong class="brand">Agents</strong>
        <nav aria-label="Sections">
          <ul>
            {nav.map(([path, label]) => (
              <li key={path}>
                <a href={`#/${path}`} aria-current={(route[0] ?? "agents") === path ? "page" : undefined}>{label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="me">{me.username}</span>
        <button type="button" class="secondary" onClick={() => api.logout().then(() => go("agents"))}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        <Content route={route} />
      </main>
      <Shortcuts />
    </MeContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
