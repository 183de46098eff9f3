"""Knowledge: documents read into text, split into overlapping chunks sized in tokens, embedded
and stored with their words, then found again by meaning, by words, or by both fused.

`reading` (bytes to text), `chunking` (text to chunks), `embedders` (chunks to vectors: the
offline `test` embedder and Vertex), `search` (the chunks' SQL: storing and querying),
`ingestion` (a document's way through the queue), `quotas` (what a user may store)."""
