import { useState } from "preact/hooks";
import { api, describeError } from "../api";
import { fieldProblems, problems, ruleOf, showFirst } from "../forms";
import { Alert, Field, Page } from "../ui";

const LABELS = { username: "Username", email: "Email", password: "Password" };

export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [mode, setMode] = useState<"in" | "up">("in");
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [wrong, setWrong] = useState<Record<string, string>>({});

  async function submit(event: Event) {
    event.preventDefault();
    setError(null);
    const values = { username, email, password };
    if (mode === "up") {
      const found = problems("register", values, LABELS);
      setWrong(found);
      if (Object.keys(found).length) return showFirst(Object.keys(found));
    }
    setBusy(true);
    try {
      if (mode === "in") await api.login(username, password);
      else await api.register(username, email, password);
      onSignedIn();
    } catch (e) {
      const found = mode === "up" ? fieldProblems(e, "register", LABELS, values) : {};
      setWrong(found);
      if (Object.keys(found).length) showFirst(Object.keys(found));
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title={mode === "in" ? "Sign in" : "Register"}>
      <form onSubmit={submit} class="card narrow" noValidate={mode === "up"}>
        <Field label="Username" id="username" error={wrong.username}
          hint={mode === "up" ? ruleOf("register", "username").description : undefined}>
          <input id="username" autoComplete="username" required value={username}
            onInput={(e) => setUsername(e.currentTarget.value)} />
        </Field>
        {mode === "up" && (
          <Field label="Email" id="email" error={wrong.email}>
            <input id="email" type="email" autoComplete="email" required value={email}
              onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
        )}
        <Field label="Password" id="password" error={wrong.password}
          hint={mode === "up" ? `at least ${ruleOf("register", "password").minLength} characters` : undefined}>
          <input id="password" type="password" required value={password}
            autoComplete={mode === "in" ? "current-password" : "new-password"}
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
        <Alert message={error} />
        <button type="submit" disabled={busy}>{mode === "in" ? "Sign in" : "Create account"}</button>
        <p>
          {mode === "in" ? "No account yet? " : "Have an account? "}
          <button type="button" class="link" onClick={() => { setMode(mode === "in" ? "up" : "in"); setWrong({}); }}>
            {mode === "in" ? "Register" : "Sign in"}
          </button>
        </p>
      </form>
    </Page>
  );
}
