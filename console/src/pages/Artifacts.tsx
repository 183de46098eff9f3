import { useEffect, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { Alert, Page, useLoad, when, type PageOf } from "../ui";

interface Artifact {
  id: string;
  name: string;
  content_type: string;
  size_bytes: number;
  session_id: string | null;
  created_at: string;
}

export function Artifacts() {
  const files = useLoad(() => api.get<PageOf<Artifact>>("/artifacts?limit=100"), []);
  return (
    <Page title="Artifacts">
      <p>Files you uploaded into chats and files your agents wrote. Upload from a chat.</p>
      <Alert message={files.error} />
      <ul class="cards">
        {files.data?.items.map((f) => (
          <li key={f.id} class="card">
            <a href={`#/artifacts/${f.id}`}>{f.name}</a>
            <p class="muted">{f.content_type} · {f.size_bytes} bytes · {when(f.created_at)}</p>
          </li>
        ))}
      </ul>
    </Page>
  );
}

export function ArtifactDetail({ id }: { id: string }) {
  const file = useLoad(() => api.get<Artifact>(`/artifacts/${id}`), [id]);
  const [url, setUrl] = useState<string | null>(null);
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const f = file.data;
    if (!f) return;
    let made: string | null = null;
    api.blob(`/artifacts/${id}/content`).then(
      async (blob) => {
        made = URL.createObjectURL(blob);
        setUrl(made);
        if (f.content_type.startsWith("text/") || f.content_type === "application/json") {
          setText((await blob.text()).slice(0, 20000));
        }
      },
      (e) => setError(describeError(e)),
    );
    return () => {
      if (made) URL.revokeObjectURL(made);
    };
  }, [file.data]);
  const f = file.data;
  return (
    <Page title={f?.name ?? "Artifact"}>
      <Alert message={file.error ?? error} />
      {f && <p class="muted">{f.content_type} · {f.size_bytes} bytes · {when(f.created_at)}</p>}
      {url && f && <a class="button" href={url} download={f.name}>Download</a>}
      {url && f?.content_type.startsWith("image/") && <img class="preview" src={url} alt={`Preview of ${f.name}`} />}
      {text !== null && <pre class="preview" tabIndex={0} aria-label={`Contents of ${f?.name}`}>{text}</pre>}
    </Page>
  );
}
