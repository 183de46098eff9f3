// What a knowledge_search result says: the passages a chat answer was given, as sources.

export interface Source {
  title: string;
  position: number;
  score: number;
  text: string;
  document_id: string;
  chunk_id: number;
}

/** The passages of a knowledge_search tool result (its content is the tool's JSON); [] for
 * anything else, so a malformed result shows nothing rather than breaking the chat. */
export function sourcesOf(toolName: unknown, content: unknown): Source[] {
  if (toolName !== "knowledge_search") return [];
  let value: unknown = content;
  if (typeof content === "string") {
    try {
      value = JSON.parse(content);
    } catch {
      return [];
    }
  }
  const passages = (value as { passages?: unknown } | null)?.passages;
  if (!Array.isArray(passages)) return [];
  return passages.filter(
    (p): p is Source =>
      typeof p === "object" && p !== null && typeof p.title === "string" && typeof p.text === "string",
  );
}

export type DocumentStatus = "queued" | "processing" | "ready" | "failed";

/** Whether a list of documents still has some on their way (the page polls while so). */
export function ingesting(documents: { status: DocumentStatus }[]): boolean {
  return documents.some((d) => d.status === "queued" || d.status === "processing");
}
