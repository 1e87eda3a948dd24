"""The common recipe, the peer baseline: a sentence encoder and a FAISS IndexFlatIP.

Chunks are embedded as written (no script conversion, no BM25) with the same
encoder the project uses, and a question is answered with the chunks nearest to
its own embedding. This module imports only what that recipe needs, so its start-up
time is the recipe's, not the benchmark's.

``python -m bench.recipe ask INDEX_DIR "question"`` prints the top passages.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INDEX_FILE = "recipe.faiss"
TEXTS_FILE = "recipe.jsonl"


@dataclass
class Recipe:
    index: object  # faiss.IndexFlatIP
    texts: list[str]
    encoder: object  # bot.encoders.Encoder

    @classmethod
    def build(cls, texts: list[str], encoder, out_dir: Path | None = None) -> Recipe:  # noqa: ANN001
        import faiss

        vectors = encoder.encode(texts) if texts else np.zeros((0, encoder.dim), dtype=np.float32)
        index = faiss.IndexFlatIP(encoder.dim)
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            faiss.write_index(index, str(out_dir / INDEX_FILE))
            with open(out_dir / TEXTS_FILE, "w", encoding="utf-8") as fh:
                for t in texts:
                    fh.write(json.dumps(t, ensure_ascii=False) + "\n")
        return cls(index, list(texts), encoder)

    @classmethod
    def load(cls, index_dir: Path, encoder=None) -> Recipe:  # noqa: ANN001
        import faiss

        from bot.encoders import load_encoder

        index = faiss.read_index(str(index_dir / INDEX_FILE))
        with open(index_dir / TEXTS_FILE, encoding="utf-8") as fh:
            texts = [json.loads(line) for line in fh]
        return cls(index, texts, encoder or load_encoder("use-multilingual"))

    def ask(self, question: str, k: int = 5) -> list[tuple[float, str]]:
        scores, rows = self.index.search(self.encoder.encode([question]), min(k, self.index.ntotal))
        return [(float(s), self.texts[int(r)]) for s, r in zip(scores[0], rows[0]) if r >= 0]


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "ask":
        print("usage: python -m bench.recipe ask INDEX_DIR QUESTION", file=sys.stderr)
        return 2
    started = time.perf_counter()
    recipe = Recipe.load(Path(argv[1]))
    for score, text in recipe.ask(argv[2]):
        print(f"{score:.3f} {text[:120]}")
    print(f"({time.perf_counter() - started:.2f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
