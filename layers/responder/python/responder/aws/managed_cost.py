"""What the managed backends (`responder.aws.managed`) would cost per mention, from public prices and measured texts.

Prices, us-east-1, on demand:
- Amazon Comprehend (aws.amazon.com/comprehend/pricing): sentiment and dominant-language requests are measured in
  units of 100 characters with a minimum of 3 units (300 characters) per request; $0.0001 a unit for the first
  10 million units in a month ($0.00005 up to 50 million, $0.000025 beyond). The first tier is used here.
- Amazon Bedrock (aws.amazon.com/bedrock/pricing), per million input / output tokens: `BEDROCK_PRICES`. Models
  reached through a cross-Region inference profile (`us.`, `eu.`, `global.` ...) bill at the source Region's price.
- Ours: the local classifier and the templates run inside the triage functions, whose Lambda time is billed in
  any case; they add no per-mention fee.

Characters are counted exactly as the backends would send them (`responder.aws.managed`); Bedrock tokens are
estimated at `CHARACTERS_PER_TOKEN` (the usual rule of thumb for English; other scripts take more tokens), and the
model's reply is taken to be as long as the template it rewrites. The Bedrock drafter logs the token counts
Converse reports, which is what to use once it runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

COMPREHEND_UNIT_CHARACTERS = 100
COMPREHEND_MIN_UNITS = 3
COMPREHEND_PRICE_PER_UNIT = 0.0001
# Model id → (USD per million input tokens, USD per million output tokens), on demand.
BEDROCK_PRICES: Mapping[str, tuple[float, float]] = {
    "amazon.nova-micro-v1:0": (0.035, 0.14),
    "amazon.nova-lite-v1:0": (0.06, 0.24),
    "amazon.nova-pro-v1:0": (0.80, 3.20),
    "anthropic.claude-3-haiku-20240307-v1:0": (0.25, 1.25),
    "anthropic.claude-3-5-haiku-20241022-v1:0": (0.80, 4.00),
}
CHARACTERS_PER_TOKEN = 4.0
_GEO_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca.", "global.")


def comprehend_units(characters: int) -> int:
    """Billed units of one Comprehend request: 100 characters each, at least 3."""
    return max(COMPREHEND_MIN_UNITS, math.ceil(characters / COMPREHEND_UNIT_CHARACTERS))


def bedrock_price(model_id: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens of a model id or inference profile id, None when not listed."""
    for prefix in _GEO_PREFIXES:
        if model_id.startswith(prefix):
            model_id = model_id[len(prefix):]
            break
    return BEDROCK_PRICES.get(model_id)


def estimated_tokens(characters: int) -> int:
    return math.ceil(characters / CHARACTERS_PER_TOKEN) if characters else 0


@dataclass(frozen=True)
class ManagedCost:
    """Per-mention requests and characters the managed backends would bill for a set of mentions."""

    mentions: int
    characters: int  # of the mentions' texts as stored
    over_minimum: int  # mentions whose Comprehend text is over the 300-character minimum
    sentiment_requests: int
    sentiment_units: int
    language_requests: int  # only mentions without a platform language tag
    language_units: int
    drafts: int  # mentions that get a draft (noise does not)
    draft_input_tokens: int  # estimated
    draft_output_tokens: int  # estimated

    @property
    def sentiment_cost(self) -> float:
        return self.sentiment_units * COMPREHEND_PRICE_PER_UNIT

    @property
    def language_cost(self) -> float:
        return self.language_units * COMPREHEND_PRICE_PER_UNIT

    def draft_cost(self, model_id: str) -> float | None:
        """USD for every draft with `model_id`, None when its price is not in `BEDROCK_PRICES`."""
        price = bedrock_price(model_id)
        if price is None:
            return None
        return (self.draft_input_tokens * price[0] + self.draft_output_tokens * price[1]) / 1e6

    def per_mention(self, total: float) -> float:
        return total / self.mentions if self.mentions else 0.0


def measure(items: Iterable[tuple[str, str | None, Any]], voice: Any = None, channel: str = "x") -> ManagedCost:
    """What the backends would send for each (text, platform language tag, local classification).

    Drafts are measured as replies on `channel` (X by default: the tightest length, the most common channel).
    """
    from responder.triage.drafting import draft_reply, load_voice
    from responder.classification.language import UNDETERMINED
    from responder.aws.managed import build_prompt, comprehend_language_code, needs_language_call, sentiment_text

    voice = voice or load_voice()
    counts = dict(mentions=0, characters=0, over_minimum=0, sentiment_requests=0, sentiment_units=0,
                  language_requests=0, language_units=0, drafts=0, draft_input_tokens=0, draft_output_tokens=0)
    for text, hint, classification in items:
        counts["mentions"] += 1
        counts["characters"] += len(text)
        if classification.noise:
            continue  # archived: neither scored by Comprehend nor drafted
        payload = sentiment_text(text)
        counts["over_minimum"] += len(payload) > COMPREHEND_MIN_UNITS * COMPREHEND_UNIT_CHARACTERS
        language_call = needs_language_call(text, hint)
        if language_call:
            counts["language_requests"] += 1
            counts["language_units"] += comprehend_units(len(payload))
        # Undetermined locally but long enough for Comprehend to name a language: counted as scored too.
        scored = comprehend_language_code(classification.language) or (language_call and
                                                                       classification.language == UNDETERMINED)
        if payload and scored:
            counts["sentiment_requests"] += 1
            counts["sentiment_units"] += comprehend_units(len(payload))
        mention = {"text": text, "channel": channel, "kind": "mention", "author": {"handle": "customer"}}
        values = classification.to_dict()
        template = draft_reply(mention, values, None, voice)
        prompt = build_prompt(mention, values, None, voice, template)
        counts["drafts"] += 1
        counts["draft_input_tokens"] += estimated_tokens(len(prompt.system) + len(prompt.user))
        counts["draft_output_tokens"] += estimated_tokens(len(template.text) - len(prompt.prefix))
    return ManagedCost(**counts)
