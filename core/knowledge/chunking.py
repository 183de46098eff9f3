"""A document's text split into overlapping chunks sized in tokens.

Tokens are counted as words and punctuation marks (`\\w+|[^\\w\\s]`): within ~25% of what the
models' own tokenizers count for English prose, with no tokenizer to load. A chunk gathers
whole paragraphs, then whole sentences, up to its size; only a sentence longer than a chunk is
cut between words. Each chunk after the first begins with the last sentences of the one before
it (at least `overlap` tokens of them), so a passage cut at a boundary is found whole in one of
the two."""

from __future__ import annotations

import re
from dataclasses import dataclass

TOKEN = re.compile(r"\w+|[^\w\s]")
PARAGRAPH = re.compile(r"\n\s*\n")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")

CHUNK_TOKENS = 300
OVERLAP_TOKENS = 50


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str
    tokens: int


def split_into_chunks(
    text: str, *, size: int = CHUNK_TOKENS, overlap: int = OVERLAP_TOKENS
) -> list[Chunk]:
    """The chunks of `text`, in order; none for text without a word."""
    if overlap >= size:
        raise ValueError("the overlap must be smaller than the chunk")
    pieces = [piece for piece in _pieces(text, size) if piece[1]]
    chunks: list[Chunk] = []
    current: list[tuple[str, int]] = []
    tokens = 0
    fresh = 0  # tokens in `current` that no earlier chunk holds
    for piece in pieces:
        if current and tokens + piece[1] > size:
            chunks.append(_chunk(len(chunks), current))
            current, tokens = _tail(current, overlap, size - piece[1])
            fresh = 0
        current.append(piece)
        tokens += piece[1]
        fresh += piece[1]
    if current and (fresh or not chunks):
        chunks.append(_chunk(len(chunks), current))
    return chunks


def _chunk(position: int, pieces: list[tuple[str, int]]) -> Chunk:
    # a paragraph's first sentence carries its break ("\n\n" ahead of it): kept between pieces
    text = "".join(
        piece if i == 0 or piece.startswith("\n\n") else " " + piece
        for i, (piece, _) in enumerate(pieces)
    )
    return Chunk(position, text.strip(), sum(n for _, n in pieces))


def _tail(
    pieces: list[tuple[str, int]], overlap: int, room: int
) -> tuple[list[tuple[str, int]], int]:
    """The last pieces holding at least `overlap` tokens, if they fit in `room`."""
    kept: list[tuple[str, int]] = []
    tokens = 0
    for piece in reversed(pieces):
        if tokens >= overlap or tokens + piece[1] > room:
            break
        kept.insert(0, piece)
        tokens += piece[1]
    return kept, tokens


def _pieces(text: str, size: int) -> list[tuple[str, int]]:
    """Sentences (with their token counts), a sentence over `size` cut between words."""
    out: list[tuple[str, int]] = []
    for paragraph in PARAGRAPH.split(text):
        first = True
        for sentence in SENTENCE.split(paragraph.strip()):
            sentence = " ".join(sentence.split())
            n = count_tokens(sentence)
            if first and sentence:
                sentence, first = "\n\n" + sentence, False
            if n <= size:
                out.append((sentence, n))
                continue
            words: list[str] = []
            held = 0
            for word in _words(sentence, size):
                w = count_tokens(word)
                if words and held + w > size:
                    out.append((" ".join(words), held))
                    words, held = [], 0
                words.append(word)
                held += w
            if words:
                out.append((" ".join(words), held))
    return out


def _words(sentence: str, size: int) -> list[str]:
    """The sentence's words, a "word" of more than `size` tokens (a run of symbols) cut."""
    out: list[str] = []
    for word in sentence.split(" "):
        tokens = TOKEN.findall(word)
        if len(tokens) <= size:
            out.append(word)
        else:
            out += ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]
    return out
