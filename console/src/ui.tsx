// Small shared pieces: loading data, showing errors, labelled fields.
import { createContext, type ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { describeError } from "./api";

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): {
  data: T | undefined;
  error: string | null;
  reload: () => void;
} {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (value) => live && (setData(value), setError(null)),
      (e) => live && setError(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: useCallback(() => setTick((t) => t + 1), []) };
}

export function Alert({ message }: { message: string | null }) {
  return message ? (
    <p role="alert" class="alert">
      {message}
    </p>
  ) : null;
}

export function Field(props: {
  label: string;
  id: string;
  children: ComponentChildren;
  hint?: string;
  error?: string;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small id={`${props.id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small role="alert" class="error">
          {props.error}
        </small>
      )}
    </div>
  );
}

export function Page(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${props.title} · Agents console`;
  }, [props.title]);
  return (
    <section aria-labelledby="page-title">
      <header class="page-header">
        <h1 id="page-title">{props.title}</h1>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export interface PageOf<T> {
  items: T[];
  next_cursor: string | null;
}

/** Who is signed in (the console's App provides it). */
export interface Me {
  id: string;
  username: string;
  role: string;
}
export const MeContext = createContext<Me | null>(null);
