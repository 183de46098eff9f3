"""A retrieval evaluation built offline from the interpreter's own documentation: the language
reference topics (`pydoc_data.topics`) and the docstrings of the standard library's modules
and their public classes and functions, as documents; questions made from sentences of chunks
picked at random (seeded), each answered by the chunks that hold its sentence.

A question keeps some of its sentence's content words and changes others: their form (plural
to singular, -ing and -ed forms to the stem, -ion to -e) or, in a long word, a letter past the
fifth (dropped or swapped): what a person who half remembers a passage types, typos included.
Neither half of hybrid search has it easy: full-text search stems but needs each word spelled
right; the test embedder shares most of a word's 4-grams with its misspelling but knows no
word's rarity."""

from __future__ import annotations

import importlib
import inspect
import random
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.knowledge.chunking import Chunk
from core.knowledge.embedders import STOP

SKIPPED = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}


def corpus() -> list[tuple[str, str]]:
    """(title, text) documents: the reference topics, then one per standard module."""
    import pydoc_data.topics

    documents = [(f"topic {name}", text) for name, text in sorted(pydoc_data.topics.topics.items())]
    warnings.simplefilter("ignore")
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in SKIPPED:
            continue
        try:
            module = importlib.import_module(name)
        except BaseException:  # a module that will not import here is left out
            continue
        parts = [module.__doc__ or ""]
        for member, value in sorted(vars(module).items()):
            if member.startswith("_") or getattr(value, "__module__", None) != name:
                continue
            doc = inspect.getdoc(value)
            if doc and len(doc) > 80:
                parts.append(f"{name}.{member}: {doc}")
        text = "\n\n".join(part for part in parts if part)
        if len(text) > 200:
            documents.append((f"module {name}", text))
    return documents


@dataclass(frozen=True)
class Question:
    text: str
    sentence: str
    answers: frozenset[int]  # the chunk ids that hold the sentence


WORD = re.compile(r"[A-Za-z]{3,}")


def _reform(word: str, rng: random.Random) -> str:
    for old, new in (("ies", "y"), ("ing", ""), ("ed", ""), ("ion", "e"), ("s", "")):
        if word.endswith(old) and len(word) > len(old) + 3:
            return word[: -len(old)] + new
    return word + ("s" if rng.random() < 0.5 else "ing")


def _typo(word: str, rng: random.Random) -> str:
    """A letter dropped or two swapped, past the fifth (people misspell the ends of words)."""
    at = rng.randrange(5, len(word) - 1)
    if rng.random() < 0.5:
        return word[:at] + word[at + 1 :]
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]


def _vary(word: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return _reform(word, rng)
    if roll < 0.55 and len(word) > 6:
        return _typo(word, rng)
    return word


def questions(chunks: Sequence[tuple[int, Chunk]], count: int, *, seed: int = 7) -> list[Question]:
    rng = random.Random(seed)
    picked: list[Question] = []
    order = list(chunks)
    rng.shuffle(order)
    for _chunk_id, chunk in order:
        sentences = [
            s for s in re.split(r"(?<=[.!?])\s+", chunk.text) if len(WORD.findall(s)) >= 10
        ]
        if not sentences:
            continue
        sentence = rng.choice(sentences)
        words = [w for w in WORD.findall(sentence) if w.lower() not in STOP]
        keep = sorted(rng.sample(range(len(words)), k=min(len(words), rng.randint(4, 7))))
        terms = [_vary(words[i].lower(), rng) for i in keep]
        answers = frozenset(cid for cid, c in chunks if sentence in c.text)
        picked.append(Question(" ".join(terms), sentence, answers))
        if len(picked) == count:
            break
    return picked


def scores(
    qs: Sequence[Question], search: Callable[[str], list[int]], k: int = 5
) -> tuple[float, float]:
    """recall@k (a chunk holding the sentence among the first k) and MRR (first 10)."""
    hits = 0
    reciprocal = 0.0
    for q in qs:
        found = search(q.text)
        ranks = [i for i, chunk_id in enumerate(found[:10]) if chunk_id in q.answers]
        if ranks and ranks[0] < k:
            hits += 1
        if ranks:
            reciprocal += 1.0 / (ranks[0] + 1)
    return hits / len(qs), reciprocal / len(qs)
