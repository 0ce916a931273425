"""What the local fake model answers in ``make dev``: feedback labels a model would give.

Offline, ``make dev`` points the primary and secondary tiers at the fake OpenAI server, whose stub answers
are merely schema-valid (every text would be "billing"): the accuracy-per-tier check would fail on every
run and the scorecard would rank the "model" below the keyword rules. This responder reads a feedback
text the way a model would, by knowing every phrasing the generator writes (also the vague, new and
non-English ones the keyword rules miss), and is wrong on a fixed ~4% of texts, so the tiers compare as
they would with a real model. Any other request gets the server's stub answer. Offline demos only: the
model names (``local-fake-*``) say the answers are not a model's.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reliability_assets.reference.analytics.feedback_generator import (
    CLEAR,
    NON_ENGLISH,
    OPENERS,
    TOPICS,
    UNSEEN,
    VAGUE,
)

#: Share of texts the fake model gets wrong (chosen by a hash of the text: the same text, the same answer).
WRONG_SHARE = 0.04
_PHRASES = {
    phrase: topic
    for bank in (CLEAR, VAGUE, UNSEEN, NON_ENGLISH)
    for topic, phrases in bank.items()
    for phrase in phrases
}


def answer(body: dict[str, Any]) -> str | None:
    """A ``TopicLabel`` JSON for a feedback-labelling request; None for any other (the stub answers)."""
    response_format = body.get("response_format") or {}
    if response_format.get("json_schema", {}).get("name") != "TopicLabel":
        return None
    text = str(body["messages"][-1].get("content", ""))
    text = text.split("<<<", 1)[-1].rsplit(">>>", 1)[0].strip()
    found = [(text.find(phrase), topic) for phrase, topic in _PHRASES.items() if phrase in text]
    topic = min(found)[1] if found else "other"  # the first phrase is the point; a later one an aside
    sentiment = next(
        (s for s, openers in OPENERS.items() if any(text.startswith(o) for o in openers)), "neutral"
    )
    digest = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    if found and digest % 1000 < WRONG_SHARE * 1000:
        topic = TOPICS[(TOPICS.index(topic) + 1) % len(TOPICS)]
    return json.dumps({"topic": topic, "sentiment": sentiment, "confidence": 0.92 if found else 0.4})
