"""Text normalisation applied identically at training and at inference time."""

from __future__ import annotations

import re

# MiniLM truncates at 256 word pieces; a few thousand characters always cover that, and
# capping first keeps the tokenizer fast on pathological inputs (pasted logs, 100k-char posts).
MAX_CHARS = 2000

_MENTION = re.compile(r"(?<!\w)@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

PREPROCESS_NAME = "tweet-v1"


def normalise(text: str) -> str:
    """TweetEval-style: @handles -> '@user', links -> 'http', whitespace collapsed.

    The sentiment training and validation data are anonymised this way, so inputs must be too.
    """
    text = _URL.sub("http", text[: MAX_CHARS * 2])
    text = _MENTION.sub("@user", text)
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]
