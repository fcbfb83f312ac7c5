"""The messages the benchmarks send: deterministic, built once per size.

Binary payloads are pseudo-random bytes (incompressible); text payloads are
JSON-like records of English words, which compress the way chat or API
traffic does. Both are the same in every process of a run, so any process
can build the expected echo without receiving it.
"""

from __future__ import annotations

import functools
import json
import random

__all__ = ["binary", "text_pool"]

_VOCABULARY = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than "
    "first water been call who oil its now find long down day did get come made may part"
)
_WORDS = tuple(_VOCABULARY.split())


@functools.cache
def binary(size: int) -> bytes:
    """``size`` pseudo-random bytes, the same in every process."""
    return random.Random(size).randbytes(size)


@functools.cache
def text_pool(size: int, count: int) -> tuple[str, ...]:
    """``count`` distinct ASCII texts of exactly ``size`` characters.

    Sending them in turn keeps a compressor from finding the previous
    message verbatim in its window (32 KiB with permessage-deflate): the
    pool spans at least 64 KiB.
    """
    rng = random.Random(size * 7919 + count)
    texts = []
    for index in range(count):
        parts: list[str] = []
        length = 0
        while length < size:
            record = json.dumps(
                {
                    "id": index * 100_000 + len(parts),
                    "user": rng.choice(_WORDS) + str(rng.randrange(1000)),
                    "text": " ".join(rng.choices(_WORDS, k=rng.randrange(4, 16))),
                    "score": round(rng.random() * 100, 2),
                }
            )
            parts.append(record)
            length += len(record) + 1
        texts.append("\n".join(parts)[:size])
    return tuple(texts)
