import { useContext, useState } from "preact/hooks";
import { api, describeError } from "../api";
import { go } from "../router";
import { Alert, Field, MeContext, Page, useLoad, when, type PageOf } from "../ui";

interface Listing {
  id: string;
  agent_id: string;
  display_name: string;
  name: string;
  summary: string;
  description: string;
  category: string;
  tags: string[];
  tools: string[];
  rating_average: number | null;
  rating_count: number;
  install_count: number;
  eval_pass_rate: number | null;
  publisher: string;
  owner_id: string;
  installed?: boolean;
  published_at: string;
}
/** How the published version did on the eval set that gates its releases (none: no gate). */
function passRate(l: Listing): string {
  return l.eval_pass_rate === null ? "" : ` · passed ${Math.round(l.eval_pass_rate * 100)}% of its evals`;
}

interface Rating {
  id: string;
  username: string;
  score: number;
  review: string | null;
  created_at: string;
}

export function Marketplace() {
  const [q, setQ] = useState("");
  const [category, setCategory] = useState("");
  const [sort, setSort] = useState("relevance");
  const [query, setQuery] = useState("");
  const listings = useLoad(() => api.get<PageOf<Listing>>(`/marketplace?limit=50${query}`), [query]);
  function search(event: Event) {
    event.preventDefault();
    const params = new URLSearchParams();
    if (q.trim()) params.set("q", q.trim());
    if (category.trim()) params.set("category", category.trim());
    params.set("sort", sort);
    setQuery(`&${params}`);
  }
  return (
    <Page title="Marketplace">
      <form role="search" onSubmit={search} class="row">
        <Field label="Search" id="search-q"><input id="search-q" type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} /></Field>
        <Field label="Category" id="search-category"><input id="search-category" value={category} onInput={(e) => setCategory(e.currentTarget.value)} /></Field>
        <Field label="Sort by" id="search-sort">
          <select id="search-sort" value={sort} onChange={(e) => setSort(e.currentTarget.value)}>
            {["relevance", "rating", "installs", "newest"].map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </Field>
        <button type="submit">Search</button>
      </form>
      <Alert message={listings.error} />
      <ul class="cards" aria-label="Listings">
        {listings.data?.items.map((l) => (
          <li key={l.id} class="card">
            <h2><a href={`#/marketplace/${l.id}`}>{l.display_name}</a></h2>
            <p class="muted">by {l.publisher} · {[l.category, l.tags.join(", ")].filter(Boolean).join(" · ")} · ★ {l.rating_average?.toFixed(1) ?? "—"} ({l.rating_count}) · {l.install_count} installs{passRate(l)}</p>
            <p>{l.summary}</p>
          </li>
        ))}
      </ul>
      {listings.data?.items.length === 0 && <p>Nothing found.</p>}
    </Page>
  );
}

export function ListingDetail({ id }: { id: string }) {
  const listing = useLoad(() => api.get<Listing>(`/marketplace/${id}`), [id]);
  const ratings = useLoad(() => api.get<PageOf<Rating>>(`/marketplace/${id}/ratings?limit=50`), [id]);
  const [score, setScore] = useState("5");
  const [review, setReview] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  async function install() {
    setError(null);
    try {
      const agent = await api.request<{ id: string }>("POST", `/marketplace/${id}/install`);
      go(`agents/${agent.id}`);
    } catch (e) {
      setError(describeError(e));
    }
  }
  async function rate(event: Event) {
    event.preventDefault();
    setError(null);
    try {
      await api.request("POST", `/marketplace/${id}/ratings`, { score: Number(score), ...(review ? { review } : {}) });
      setNote("Thanks: your rating is saved.");
      listing.reload();
      ratings.reload();
    } catch (e) {
      setError(describeError(e));
    }
  }
  const l = listing.data;
  const me = useContext(MeContext);
  return (
    <Page title={l?.display_name ?? "Listing"}>
      <Alert message={listing.error ?? error} />
      {l && (
        <>
          <p class="muted">{[`by ${l.publisher}`, l.category, l.tags.join(", "), `tools: ${l.tools.join(", ") || "none"}`, `published ${when(l.published_at)}`].filter(Boolean).join(" · ")}</p>
          <p>{l.summary}</p>
          <p>★ {l.rating_average?.toFixed(1) ?? "—"} from {l.rating_count} ratings · {l.install_count} installs{passRate(l)}</p>
          <button type="button" onClick={install}>Install</button>
        </>
      )}
      {l && l.owner_id === me?.id ? (
        <p class="card muted">Your listing: people who install it rate it.</p>
      ) : l && !l.installed ? (
        <p class="card">Install it to rate it: ratings come from people who use the agent.</p>
      ) : l && (
        <form onSubmit={rate} class="card">
          <h2>Rate it</h2>
          <Field label="Score" id="rate-score">
            <select id="rate-score" value={score} onChange={(e) => setScore(e.currentTarget.value)}>
              {[5, 4, 3, 2, 1].map((s) => <option key={s} value={s}>{s} stars</option>)}
            </select>
          </Field>
          <Field label="Review (optional)" id="rate-review">
            <textarea id="rate-review" rows={2} value={review} onInput={(e) => setReview(e.currentTarget.value)} />
          </Field>
          <button type="submit">Rate</button>
          <p role="status">{note}</p>
        </form>
      )}
      <h2>Ratings</h2>
      <ul>
        {ratings.data?.items.map((r) => <li key={r.id}>{r.username}: {"★".repeat(r.score)} {r.review}</li>)}
      </ul>
    </Page>
  );
}
