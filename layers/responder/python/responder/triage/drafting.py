"""Drafting v1: a reply draft for an agent to review, in the mention's language and the brand's voice.

The brand voice ships as `responder/data/brand_voice.json`; `load_voice(source)` deep-merges an override (a
dict, JSON text or a path) over it, like routing rules. Schema:

- `brand_name`: used in praise and thanks (`{brand}`).
- `sign_off`: appended to every draft when not empty (`^JD`, `The Acme care team`); dropped first when short of room.
- `tone`: `friendly` or `formal`: which set of templates is used.
- `default_language`: the templates used when the mention's language has none (`en`).
- `capabilities`: what the brand has configured; a value that is null or absent is never mentioned.
  `support_hours` and `response_time` (text, or an object language → text: a text capability configured for other
  languages only is left out), `refund_policy_url`, `status_page_url`, `contact_url` (http(s) URLs, or an object
  language → URL falling back to the default language), `dm_for_private_details` (true: public replies may ask
  for a DM).
- `templates`: language → tone → template key → text with `{name}`, `{brand}`, `{details}` and capability
  placeholders; every language needs every key of `TEMPLATE_KEYS` in both tones.

A draft is assembled from sentences: an optional greeting (first name, or the @handle outside X), a
follow-up acknowledgement when the thread already holds earlier mentions, the intent's sentence (a careful
holding statement for crisis mentions: concern, no admission, contact details asked privately), a request for the
details the topic needs (asked privately: a DM on public channels when the brand allows it, in the conversation on
private ones, which never ask for a DM), a privacy note for account and payment topics, and the configured
capabilities that fit (refund policy for refunds, status page for outages, support hours for contact requests,
the usual response time when details are requested). Spam and other noise gets no draft.

Platform limits (characters): X post 280 including the leading `@handle`, counted as X does (URLs count 23,
most characters outside Latin and general punctuation count 2: docs.x.com "Counting characters"), X DM 10,000;
Instagram comment 2,200, Instagram DM 1,000; Facebook comment 8,000; Messenger 2,000 (Send API text limit);
WhatsApp 4,096 (Cloud API text body). An over-long draft loses its optional sentences first (sign-off, hours,
response time, status page, privacy note, refund policy, follow-up, greeting), then its intent sentence is cut at a
sentence or word boundary with an ellipsis while the request for details stays whole, and `truncated` is set.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from responder.classification.lexicon import PhraseMatcher, classified_text, load_lexicons, words
from responder.core.model import PRIVATE_KINDS
from responder.triage.routing import deep_merge, read_json_source

VOICE_FILE = Path(__file__).resolve().parents[1] / "data" / "brand_voice.json"
TONES: tuple[str, ...] = ("friendly", "formal")
TEMPLATE_KEYS: tuple[str, ...] = (
    "greeting_name", "greeting", "follow_up", "complaint", "question", "praise", "feedback", "other", "crisis",
    "crisis_ask_dm", "crisis_ask_here", "crisis_ask_contact", "crisis_ask_generic", "details_dm", "details_here",
    "details_contact", "details_generic", "detail_order", "detail_invoice", "detail_payment", "detail_account",
    "detail_default", "privacy_note", "refund_policy", "status_page", "support_hours", "response_time",
)
TEXT_CAPABILITIES: tuple[str, ...] = ("support_hours", "response_time")
URL_CAPABILITIES: tuple[str, ...] = ("refund_policy_url", "status_page_url", "contact_url")
PLACEHOLDERS = frozenset({"name", "brand", "details", *TEXT_CAPABILITIES, *URL_CAPABILITIES})

# X counts a URL as 23 characters whatever its length (t.co wrapping).
X_URL_LENGTH = 23
X_LIMIT = 280
_LIMITS: dict[tuple[str, bool], int] = {
    ("x", False): X_LIMIT, ("x", True): 10_000,
    ("instagram", False): 2_200, ("instagram", True): 1_000,
    ("facebook", False): 8_000, ("facebook", True): 8_000,
    ("messenger", False): 2_000, ("messenger", True): 2_000,
    ("whatsapp", False): 4_096, ("whatsapp", True): 4_096,
}
_PRIVATE_CHANNELS = frozenset({"messenger", "whatsapp"})
# twitter-text v3: code points in these ranges weigh 1, all others 2.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL_RE = re.compile(r"https?://\S+", re.IGNORECASE)
_NAME_RE = re.compile(r"^[^\W\d_][^\W\d_'’-]*(?:['’-][^\W\d_]+)*$")
_ELLIPSIS = "…"

_DETAIL_FOR_TOPIC = {
    "order": "detail_order", "delivery": "detail_order", "shipping_address": "detail_order", "refund": "detail_order",
    "cancellation_fee": "detail_order", "invoice": "detail_invoice", "payment": "detail_payment",
    "account": "detail_account",
}
# Sentences that may go when space is short, the first listed first.
_DROP_ORDER = ("sign_off", "support_hours", "response_time", "status_page", "privacy_note", "refund_policy",
               "follow_up", "greeting")


class BrandVoiceError(ValueError):
    """A brand voice that cannot be used; the message names the offending key."""


@dataclass(frozen=True)
class BrandVoice:
    """The brand's configured voice and capabilities (build with `load_voice`)."""

    brand_name: str
    sign_off: str
    tone: str
    default_language: str
    capabilities: Mapping[str, Any]
    templates: Mapping[str, Mapping[str, Mapping[str, str]]] = field(repr=False)

    def capability(self, name: str, language: str) -> str | None:
        """A configured capability in `language`, None when not configured (for that language)."""
        value = self.capabilities.get(name)
        if isinstance(value, Mapping):
            # Text in another language would read oddly; a URL serves every language.
            value = value.get(language) or (value.get(self.default_language) if name in URL_CAPABILITIES else None)
        return value or None

    @property
    def dm_for_private_details(self) -> bool:
        return bool(self.capabilities.get("dm_for_private_details", False))

    def phrases(self, language: str) -> Mapping[str, str]:
        """The templates of `language` in the brand's tone (the default language when it has none)."""
        return self.templates.get(language, self.templates[self.default_language])[self.tone]


@dataclass(frozen=True)
class Draft:
    """A reply draft for an agent: never sent without review."""

    text: str
    language: str
    template: str  # crisis | complaint | question | praise | feedback | other | noise
    length: int  # as the platform counts it
    limit: int
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {"text": self.text, "language": self.language, "template": self.template, "length": self.length,
                "limit": self.limit, "truncated": self.truncated}


def draft_reply(mention: Mapping[str, Any], classification: Any, thread: Mapping[str, Any] | None = None,
                voice: BrandVoice | None = None) -> Draft:
    """A reply draft for a stored mention (`Mention.to_record()` keys) and its classification."""
    voice = voice or load_voice()
    values = classification.to_dict() if hasattr(classification, "to_dict") else dict(classification)
    channel = str(mention.get("channel") or "x")
    private = mention.get("kind") in PRIVATE_KINDS or channel in _PRIVATE_CHANNELS
    limit = _LIMITS.get((channel, private), X_LIMIT)
    language = values.get("language") if values.get("language") in voice.templates else voice.default_language
    if values.get("noise") or values.get("intent") == "spam":
        return Draft(text="", language=language, template="noise", length=0, limit=limit, truncated=False)

    phrases = voice.phrases(language)
    author = mention.get("author") or {}
    handle = _clean_handle(author.get("handle"))
    prefix = f"@{handle} " if channel == "x" and not private and handle else ""
    crisis = bool(values.get("crisis")) or any(str(r).startswith("crisis") for r in values.get("reasons") or ())
    intent = values.get("intent")
    intent = intent if intent in ("complaint", "question", "praise", "feedback") else "other"
    template = "crisis" if crisis else intent
    topic = values.get("topic") or "other"

    def fill(key: str, **extra: str) -> str:
        fields = {"brand": voice.brand_name, **extra}
        for name in TEXT_CAPABILITIES + URL_CAPABILITIES:
            fields.setdefault(name, voice.capability(name, language) or "")
        return phrases[key].format(**fields)

    sentences: list[tuple[str, str]] = []  # (role, text)
    name = _first_name(author.get("name"))
    if name:
        sentences.append(("greeting", fill("greeting_name", name=name)))
    elif handle and not prefix and not private:
        sentences.append(("greeting", fill("greeting_name", name=f"@{handle}")))
    elif not prefix:
        sentences.append(("greeting", fill("greeting")))
    follow_up = bool(thread) and _int(thread.get("mention_count")) > 1 and template not in ("praise", "feedback")
    if follow_up:
        sentences.append(("follow_up", fill("follow_up")))
    if not (follow_up and template in ("question", "other")):  # "thanks for following up" already opens these
        sentences.append(("main", fill(template)))

    contact_url = voice.capability("contact_url", language)
    asks_details = False
    if crisis:
        key = ("crisis_ask_here" if private else "crisis_ask_dm" if voice.dm_for_private_details
               else "crisis_ask_contact" if contact_url else "crisis_ask_generic")
        sentences.append(("ask", fill(key)))
        asks_details = True
    elif intent == "complaint" or (intent == "question" and topic in _DETAIL_FOR_TOPIC):
        details = fill(_DETAIL_FOR_TOPIC.get(topic, "detail_default"))
        key = ("details_here" if private else "details_dm" if voice.dm_for_private_details
               else "details_contact" if contact_url else "details_generic")
        sentences.append(("ask", fill(key, details=details)))
        asks_details = True
        if topic in ("account", "payment"):
            sentences.append(("privacy_note", fill("privacy_note")))

    if not crisis and intent in ("complaint", "question", "other"):
        if topic == "refund" and voice.capability("refund_policy_url", language):
            sentences.append(("refund_policy", fill("refund_policy")))
        outage = intent != "other" and _mentions_outage(mention.get("text"))
        if outage and voice.capability("status_page_url", language):
            sentences.append(("status_page", fill("status_page")))
        if topic == "contact" and voice.capability("support_hours", language):
            sentences.append(("support_hours", fill("support_hours")))
    if asks_details and voice.capability("response_time", language):
        sentences.append(("response_time", fill("response_time")))
    if voice.sign_off:
        sentences.append(("sign_off", voice.sign_off))

    text, truncated = _fit(prefix, sentences, limit, channel)
    return Draft(text=text, language=language, template=template, length=platform_length(text, channel),
                 limit=limit, truncated=truncated)


def platform_length(text: str, channel: str) -> int:
    """Length as the platform counts it: X weighs URLs as 23 and most non-Latin characters as 2."""
    if channel != "x":
        return len(text)
    total, last = 0, 0
    for match in _URL_RE.finditer(text):
        total += _x_weight(text[last:match.start()]) + X_URL_LENGTH
        last = match.end()
    return total + _x_weight(text[last:])


def load_voice(source: BrandVoice | Mapping[str, Any] | str | Any | None = None) -> BrandVoice:
    """The shipped brand voice, deep-merged with an override: a dict, JSON text or a path to a JSON file."""
    if source is None:
        return _shipped_voice()
    if isinstance(source, BrandVoice):
        return source
    override = read_json_source(source, "brand voice", BrandVoiceError)
    return build_voice(deep_merge(_shipped_document(), override))


def build_voice(document: Mapping[str, Any]) -> BrandVoice:
    """Validate a complete brand voice document."""
    known = {"_about", "brand_name", "sign_off", "tone", "default_language", "capabilities", "templates"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise BrandVoiceError(f"brand voice: unknown key {unknown[0]!r}")
    brand = document.get("brand_name")
    if not isinstance(brand, str) or not brand.strip():
        raise BrandVoiceError("brand voice: brand_name must be a non-empty string")
    sign_off = document.get("sign_off") or ""
    if not isinstance(sign_off, str):
        raise BrandVoiceError("brand voice: sign_off must be a string")
    tone = document.get("tone")
    if tone not in TONES:
        raise BrandVoiceError(f"brand voice: tone must be one of {', '.join(TONES)}")
    templates = document.get("templates")
    if not isinstance(templates, Mapping) or not templates:
        raise BrandVoiceError("brand voice: templates must be an object of languages")
    for lang, tones in templates.items():
        if not isinstance(tones, Mapping):
            raise BrandVoiceError(f"brand voice: templates.{lang} must be an object of tones")
        for tone_name in TONES:
            phrases = tones.get(tone_name)
            if not isinstance(phrases, Mapping):
                raise BrandVoiceError(f"brand voice: templates.{lang}.{tone_name} is missing")
            for key in TEMPLATE_KEYS:
                _check_template(phrases.get(key), f"templates.{lang}.{tone_name}.{key}")
    default_language = document.get("default_language", "en")
    if default_language not in templates:
        raise BrandVoiceError(f"brand voice: default_language {default_language!r} has no templates")
    capabilities = document.get("capabilities") or {}
    if not isinstance(capabilities, Mapping):
        raise BrandVoiceError("brand voice: capabilities must be an object")
    for key, value in capabilities.items():
        where = f"capabilities.{key}"
        if key == "dm_for_private_details":
            if not isinstance(value, bool):
                raise BrandVoiceError(f"brand voice: {where} must be true or false")
        elif key in TEXT_CAPABILITIES or key in URL_CAPABILITIES:
            texts = value.values() if isinstance(value, Mapping) else [value]
            for text in texts:
                if text is not None and not isinstance(text, str):
                    raise BrandVoiceError(f"brand voice: {where} must be text or an object of language → text")
                if text and key in URL_CAPABILITIES and not re.match(r"^https?://\S+$", text):
                    raise BrandVoiceError(f"brand voice: {where} must be an http(s) URL")
        else:
            raise BrandVoiceError(f"brand voice: unknown capability {where}")
    return BrandVoice(brand_name=brand.strip(), sign_off=sign_off.strip(), tone=tone,
                      default_language=default_language, capabilities=dict(capabilities),
                      templates={lang: {t: dict(tones[t]) for t in TONES} for lang, tones in templates.items()})


# --- helpers --------------------------------------------------------------------------------------------------


def _check_template(text: Any, where: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise BrandVoiceError(f"brand voice: {where} must be a non-empty string")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise BrandVoiceError(f"brand voice: {where} has unbalanced braces") from exc
    unknown = sorted(fields - PLACEHOLDERS)
    if unknown:
        raise BrandVoiceError(f"brand voice: {where} uses unknown placeholder {{{unknown[0]}}}")


def _fit(prefix: str, sentences: list[tuple[str, str]], limit: int, channel: str) -> tuple[str, bool]:
    """Join the sentences after the prefix within the limit: drop optional ones, then cut gracefully."""
    kept = list(sentences)

    def compose() -> str:
        return prefix + " ".join(text for _, text in kept)

    text = compose()
    if platform_length(text, channel) <= limit:
        return text, False
    for role in _DROP_ORDER:
        kept = [(r, t) for r, t in kept if r != role]
        text = compose()
        if platform_length(text, channel) <= limit:
            return text, True
    # Still too long: shorten the intent's sentence and keep the request for details whole, as it is what
    # the customer has to act on.
    main = " ".join(t for r, t in kept if r == "main")
    ask = " ".join(t for r, t in kept if r != "main")
    if main and ask:
        room = limit - platform_length(prefix, channel) - platform_length(" " + ask, channel)
        if room >= 40:
            return _cut(prefix, main, platform_length(prefix, channel) + room, channel) + " " + ask, True
        if platform_length(prefix + ask, channel) <= limit:
            return prefix + ask, True
    return _cut(prefix, text[len(prefix):], limit, channel), True


def _cut(prefix: str, body: str, limit: int, channel: str) -> str:
    """The longest start of `body` that fits after `prefix`: whole sentences, else whole words and an ellipsis."""
    room = limit - platform_length(prefix, channel)
    if room <= len(_ELLIPSIS):
        return _hard_cut(prefix + body, limit, channel)
    ends = [m.end() for m in re.finditer(r"[.!?…](?=\s|$)", body)]
    fitting = [end for end in ends if platform_length(body[:end], channel) <= room]
    if fitting and fitting[-1] >= len(body) // 3:
        return prefix + body[:fitting[-1]]
    cut = body
    while cut and platform_length(cut.rstrip(" ,;:") + _ELLIPSIS, channel) > room:
        space = cut.rfind(" ")
        cut = cut[:space] if space > 0 else cut[:-1]
    return prefix + cut.rstrip(" ,;:") + _ELLIPSIS if cut else _hard_cut(prefix + body, limit, channel)


def _hard_cut(text: str, limit: int, channel: str) -> str:
    while text and platform_length(text, channel) > limit:
        text = text[:-1]
    return text


def _x_weight(text: str) -> int:
    return sum(1 if any(lo <= ord(ch) <= hi for lo, hi in _X_LIGHT_RANGES) else 2 for ch in text)


def _first_name(name: Any) -> str | None:
    """A usable first name from a display name (`Jane Doe 🌸` → `Jane`), or None."""
    if not isinstance(name, str):
        return None
    for part in name.split():
        part = part.strip(".,!?:;\"()[]")
        if not part:
            continue
        if _NAME_RE.match(part) and 2 <= len(part) <= 20:
            return part if not part.isupper() else part.capitalize()
        return None
    return None


def _clean_handle(handle: Any) -> str | None:
    if not isinstance(handle, str):
        return None
    handle = handle.strip().lstrip("@")
    return handle if re.fullmatch(r"[\w.]{1,50}", handle) else None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _mentions_outage(text: Any) -> bool:
    return isinstance(text, str) and bool(_outage_matcher().find(words(classified_text(text))))


@lru_cache(maxsize=1)
def _outage_matcher() -> PhraseMatcher:
    return PhraseMatcher((term, True) for term in load_lexicons()["outage"]["terms"])


@lru_cache(maxsize=1)
def _shipped_document() -> dict[str, Any]:
    with VOICE_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


@lru_cache(maxsize=1)
def _shipped_voice() -> BrandVoice:
    return build_voice(_shipped_document())
