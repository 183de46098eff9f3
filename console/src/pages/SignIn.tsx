import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Alert, Field, Page } from "../ui";

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [mode, setMode] = useState<"in" | "up">("in");
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "in") await api.login(username, password);
      else await api.register(username, email, password);
      onSignedIn();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title={mode === "in" ? "Sign in" : "Register"}>
      <form onSubmit={submit} class="card narrow">
        <Field label="Username" id="username">
          <input id="username" autoComplete="username" required value={username}
            onInput={(e) => setUsername(e.currentTarget.value)} />
        </Field>
        {mode === "up" && (
          <Field label="Email" id="email">
            <input id="email" type="email" autoComplete="email" required value={email}
              onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
        )}
        <Field label="Password" id="password" hint={mode === "up" ? "at least 12 characters" : undefined}>
          <input id="password" type="password" required value={password}
            autoComplete={mode === "in" ? "current-password" : "new-password"}
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
        <Alert message={error} />
        <button type="submit" disabled={busy}>{mode === "in" ? "Sign in" : "Create account"}</button>
        <p>
          {mode === "in" ? "No account yet? " : "Have an account? "}
          <button type="button" class="link" onClick={() => setMode(mode === "in" ? "up" : "in")}>
            {mode === "in" ? "Register" : "Sign in"}
          </button>
        </p>
      </form>
    </Page>
  );
}
