"""Which watched service a post is about, from its text (keywords and handles)."""

from __future__ import annotations

import re


class ServiceMatcher:
    """Matches post text against each service's keywords and handles, case-insensitively and
    on word boundaries, so "slack" matches "Slack is down" but not "slacking off"."""

    def __init__(self, terms_by_service: dict[str, list[str]]) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for service, terms in terms_by_service.items():
            cleaned = sorted({t.strip().lower() for t in terms if t.strip()}, key=len, reverse=True)
            if not cleaned:
                continue
            alternation = "|".join(re.escape(t) for t in cleaned)
            self._patterns.append(
                (service, re.compile(rf"(?<![\w@])(?:{alternation})(?!\w)", re.IGNORECASE))
            )

    def match(self, text: str) -> str | None:
        """The service named first in the text (the post's subject, usually), else None.
        Ties go to the service listed first in the config."""
        best: tuple[int, int] | None = None
        found: str | None = None
        for order, (service, pattern) in enumerate(self._patterns):
            hit = pattern.search(text)
            if hit and (best is None or (hit.start(), order) < best):
                best, found = (hit.start(), order), service
        return found
