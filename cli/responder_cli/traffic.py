"""Seeded, realistic webhook traffic: signed X (Activity API and legacy Account Activity) and Meta deliveries.

Every generated delivery carries its ground truth (what a person would say it is), so benchmarks can score
the pipeline: intent, topic, language, sentiment, whether it is a crisis, and whether it belongs to a surge.
The texts are written for this project; none is taken from a data set.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

BRAND_X_ID = "1000000000000000001"
BRAND_HANDLE = "AcmeSupport"
PAGE_ID = "4100000000000001"
IG_ID = "17841400000000001"
WA_PHONE_ID = "106500000000001"

# (intent, topic, sentiment, language, text). {order} and {n} are filled in per mention.
TEMPLATES: list[tuple[str, str, str, str, str]] = [
    ("complaint", "delivery", "negative", "en", "my order {order} still hasn't arrived after two weeks, this is ridiculous"),
    ("complaint", "delivery", "negative", "en", "tracking for {order} hasn't moved in 5 days. where is my package??"),
    ("complaint", "refund", "negative", "en", "still waiting on my refund for {order}, it's been a month. terrible service"),
    ("complaint", "payment", "negative", "en", "you charged my card twice for order {order}, I want my money back"),
    ("complaint", "account", "negative", "en", "I'm locked out of my account and the reset email never arrives. so frustrating"),
    ("complaint", "invoice", "negative", "en", "the invoice for {order} has the wrong amount on it and nobody answers my emails"),
    ("complaint", "cancellation_fee", "negative", "en", "why was I charged a cancellation fee? I cancelled within the hour. unacceptable"),
    ("question", "shipping_address", "neutral", "en", "can I still change the shipping address on order {order}?"),
    ("question", "order", "neutral", "en", "how do I cancel order {order} before it ships?"),
    ("question", "contact", "neutral", "en", "what's the best way to reach a human at customer service?"),
    ("question", "newsletter", "neutral", "en", "how do I unsubscribe from your newsletter? I get three emails a day"),
    ("question", "payment", "neutral", "en", "do you accept PayPal for orders over $500?"),
    ("question", "account", "neutral", "en", "how do I delete my account and my data?"),
    ("praise", "feedback", "positive", "en", "just got my order, super fast delivery and great packaging. thank you!"),
    ("praise", "feedback", "positive", "en", "shout out to your support team, Maria sorted my issue in 5 minutes. amazing"),
    ("feedback", "feedback", "neutral", "en", "it would be nice if the app let me save more than one delivery address"),
    ("feedback", "feedback", "neutral", "en", "suggestion: add a dark mode to the website please"),
    ("complaint", "delivery", "negative", "es", "mi pedido {order} todavía no ha llegado y nadie me responde, qué mal servicio"),
    ("question", "refund", "neutral", "es", "¿cuánto tarda el reembolso del pedido {order}?"),
    ("praise", "feedback", "positive", "es", "¡muchas gracias! el pedido llegó muy rápido, excelente atención"),
    ("complaint", "delivery", "negative", "fr", "ma commande {order} n'est toujours pas arrivée, c'est inadmissible"),
    ("question", "account", "neutral", "fr", "comment est-ce que je peux changer le mot de passe de mon compte ?"),
    ("praise", "feedback", "positive", "fr", "merci beaucoup, livraison rapide et produit parfait !"),
    ("complaint", "refund", "negative", "de", "ich warte seit drei Wochen auf meine Rückerstattung für {order}, sehr enttäuschend"),
    ("question", "delivery", "neutral", "de", "wann wird meine Bestellung {order} geliefert?"),
    ("complaint", "payment", "negative", "pt", "fui cobrado duas vezes pelo pedido {order}, quero o meu dinheiro de volta"),
    ("question", "order", "neutral", "pt", "como faço para cancelar o meu pedido {order}?"),
    ("complaint", "delivery", "negative", "it", "il mio ordine {order} non è ancora arrivato, servizio pessimo"),
    ("question", "contact", "neutral", "it", "come posso contattare il servizio clienti?"),
    ("spam", "other", "neutral", "en", "🔥 FREE crypto giveaway 🔥 follow back and DM me to claim 1000 USDT now!!! bit.ly/fr33c01n"),
    ("spam", "other", "neutral", "en", "Make $5000 a week from home!!! click here www.easy-money-now.example {n}"),
]
CRISIS_TEMPLATES: list[tuple[str, str, str, str, str]] = [
    ("complaint", "order", "negative", "en", "the heater I bought from you caught fire last night, my kid could have been hurt"),
    ("complaint", "order", "negative", "en", "got food poisoning after eating your ready meal, ended up in hospital"),
    ("complaint", "account", "negative", "en", "my account was hacked and someone placed orders with my stolen card"),
    ("complaint", "refund", "negative", "en", "I've contacted my lawyer about order {order}. expect to hear from us"),
    ("complaint", "order", "negative", "es", "el cargador que compré explotó y me quemé la mano"),
]
# The surge: one incident (checkout payments failing after an app update), worded many ways.
SURGE_TEMPLATES: list[str] = [
    "{tag} your app keeps failing at checkout, payment won't go through",
    "checkout is broken again {tag}, card declined 5 times but my bank says it's fine",
    "can't pay for anything in the app since the update {tag}",
    "payment error at checkout every single time. fix your app {tag}",
    "is checkout down?? my payment keeps failing {tag}",
    "{tag} the new update broke payments, error at the last step of checkout",
    "tried 3 cards, checkout fails every time. what is going on {tag}",
    "your checkout says 'payment failed' but money left my account {tag}",
    "app crashes when I hit pay. is anyone else getting this? {tag}",
    "unable to complete my purchase, payment failed again {tag} 😡",
]
SURGE_TAGS = ["#AcmeDown", "#checkoutfail", "", "", "#fixit"]
FIRST_NAMES = ["Dana", "Miguel", "Priya", "Tom", "Lena", "Amara", "Jonas", "Sofia", "Kenji", "Chloe", "Omar",
               "Ines", "Lucas", "Giulia", "Marta", "Noah", "Zoe", "Ravi", "Elif", "Pedro"]


@dataclass
class Delivery:
    """One webhook delivery, ready to sign and send, and what it is."""

    platform: str  # x | meta
    body: dict[str, Any]
    mention_id: str
    channel: str
    truth: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""

    def encoded(self) -> bytes:
        if not self.raw:
            self.raw = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return self.raw


def _iso_ms(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class TrafficGenerator:
    """Deterministic for a seed: the same seed gives the same deliveries, ids and truths."""

    def __init__(self, seed: int = 7, start: datetime | None = None) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.start = start or datetime.now(timezone.utc).replace(microsecond=0)
        self._counter = 0

    def _next_id(self) -> int:
        self._counter += 1
        return 4_100_000_000_000_000_000 + self.seed * 10_000_000 + self._counter

    def _author(self, vip: bool = False) -> dict[str, Any]:
        name = self.rng.choice(FIRST_NAMES)
        uid = str(5_000_000_000 + self.rng.randint(0, 9_999_999))
        followers = self.rng.choice([12, 85, 240, 900, 1500, 4200]) if not vip else self.rng.choice([48_000, 250_000])
        return {"id": uid, "username": f"{name.lower()}_{uid[-4:]}", "name": name, "followers": followers,
                "verified": vip}

    def _fill(self, text: str, n: int) -> str:
        return text.format(order=f"#{self.rng.randint(10000, 99999)}", n=n, tag="")

    def normal(self, count: int) -> Iterator[Delivery]:
        """Everyday traffic: mixed topics, languages, sentiments and channels; ~3% crisis, ~4% VIPs."""
        for i in range(count):
            crisis = self.rng.random() < 0.03
            intent, topic, sentiment, lang, text = self.rng.choice(CRISIS_TEMPLATES if crisis else TEMPLATES)
            vip = self.rng.random() < 0.04
            yield self._delivery(self._fill(text, i), lang, self._author(vip),
                                 {"intent": intent, "topic": topic, "sentiment": sentiment, "language": lang,
                                  "crisis": crisis, "vip": vip, "surge": False},
                                 at=self.start + timedelta(seconds=i))

    def surge(self, count: int, offset_seconds: float = 0) -> Iterator[Delivery]:
        """A viral complaint: near-identical mentions of one incident, mostly on X."""
        for i in range(count):
            text = self.rng.choice(SURGE_TEMPLATES).format(tag=self.rng.choice(SURGE_TAGS)).strip()
            yield self._delivery(text, "en", self._author(self.rng.random() < 0.01),
                                 {"intent": "complaint", "topic": "payment", "sentiment": "negative", "language": "en",
                                  "crisis": False, "vip": False, "surge": True},
                                 at=self.start + timedelta(seconds=offset_seconds + i * 0.05), channel_weights=(0.9, 0.1))

    def _delivery(self, text: str, lang: str, author: dict[str, Any], truth: dict[str, Any], at: datetime,
                  channel_weights: tuple[float, float] = (0.6, 0.4)) -> Delivery:
        if self.rng.random() < channel_weights[0]:
            kind = "xaa" if self.rng.random() < 0.8 else "aaa"
        else:
            kind = self.rng.choice(["facebook", "instagram", "messenger", "whatsapp"])
        build = {"xaa": self.xaa_mention, "aaa": self.aaa_mention, "facebook": self.facebook_comment,
                 "instagram": self.instagram_comment, "messenger": self.messenger_message,
                 "whatsapp": self.whatsapp_message}[kind]
        delivery = build(text, lang, author, at)
        delivery.truth = {**truth, "format": kind}
        return delivery

    # -- wire formats ------------------------------------------------------------------------------------

    def xaa_mention(self, text: str, lang: str | None, author: dict[str, Any], at: datetime) -> Delivery:
        post_id = str(self._next_id())
        body = {"data": {
            "event_uuid": str(self._next_id()), "filter": {"user_id": BRAND_X_ID}, "event_type": "post.mention.create",
            "tag": "mentions",
            "payload": {"id": post_id, "author_id": author["id"], "conversation_id": post_id, "created_at": _iso_ms(at),
                        "edit_history_tweet_ids": [post_id], "text": f"@{BRAND_HANDLE} {text}", "lang": lang or "und",
                        "entities": {"mentions": [{"start": 0, "end": len(BRAND_HANDLE) + 1, "username": BRAND_HANDLE,
                                                   "id": BRAND_X_ID}]}},
            "includes": {"users": [{"id": author["id"], "username": author["username"], "name": author["name"],
                                    "verified": author["verified"],
                                    "public_metrics": {"followers_count": author["followers"]}}]}}}
        return Delivery("x", body, post_id, "x")

    def aaa_mention(self, text: str, lang: str | None, author: dict[str, Any], at: datetime) -> Delivery:
        tweet_id = str(self._next_id())
        body = {"for_user_id": BRAND_X_ID, "tweet_create_events": [{
            "id": int(tweet_id), "id_str": tweet_id, "created_at": at.strftime("%a %b %d %H:%M:%S +0000 %Y"),
            "text": f"@{BRAND_HANDLE} {text}", "lang": lang or "und", "truncated": False,
            "user": {"id": int(author["id"]), "id_str": author["id"], "screen_name": author["username"],
                     "name": author["name"], "followers_count": author["followers"], "verified": author["verified"]},
            "entities": {"user_mentions": [{"screen_name": BRAND_HANDLE, "id_str": BRAND_X_ID, "indices": [0, 12]}]}}]}
        return Delivery("x", body, tweet_id, "x")

    def facebook_comment(self, text: str, lang: str | None, author: dict[str, Any], at: datetime) -> Delivery:
        comment_id = f"6100000000000001_{self._next_id()}"
        body = {"object": "page", "entry": [{"id": PAGE_ID, "time": int(at.timestamp()), "changes": [{
            "field": "feed", "value": {"from": {"id": author["id"], "name": author["name"]}, "item": "comment",
                                       "verb": "add", "post_id": f"{PAGE_ID}_6100000000000001", "comment_id": comment_id,
                                       "parent_id": f"{PAGE_ID}_6100000000000001", "message": text,
                                       "created_time": int(at.timestamp())}}]}]}
        return Delivery("meta", body, comment_id, "facebook")

    def instagram_comment(self, text: str, lang: str | None, author: dict[str, Any], at: datetime) -> Delivery:
        comment_id = str(self._next_id())
        body = {"object": "instagram", "entry": [{"id": IG_ID, "time": int(at.timestamp()), "changes": [{
            "field": "comments", "value": {"from": {"id": author["id"], "username": author["username"]},
                                           "media": {"id": "18000000000000001", "media_product_type": "FEED"},
                                           "id": comment_id, "text": text}}]}]}
        return Delivery("meta", body, comment_id, "instagram")

    def messenger_message(self, text: str, lang: str | None, author: dict[str, Any], at: datetime) -> Delivery:
        mid = f"m_{self._next_id()}"
        ms = int(at.timestamp() * 1000)
        body = {"object": "page", "entry": [{"id": PAGE_ID, "time": ms, "messaging": [{
            "sender": {"id": author["id"]}, "recipient": {"id": PAGE_ID}, "timestamp": ms,
            "message": {"mid": mid, "text": text}}]}]}
        return Delivery("meta", body, mid, "messenger")

    def whatsapp_message(self, text: str, lang: str | None, author: dict[str, Any], at: datetime) -> Delivery:
        wamid = f"wamid.{self._next_id()}"
        phone = f"1555{author['id'][-7:]}"
        body = {"object": "whatsapp_business_account", "entry": [{"id": "102200000000001", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": WA_PHONE_ID},
                "contacts": [{"profile": {"name": author["name"]}, "wa_id": phone}],
                "messages": [{"from": phone, "id": wamid, "timestamp": str(int(at.timestamp())), "type": "text",
                              "text": {"body": text}}]}}]}]}
        return Delivery("meta", body, wamid, "whatsapp")


def from_jsonl_line(line: dict[str, Any], generator: TrafficGenerator) -> Delivery:
    """A delivery from one line of a replay file.

    Accepted shapes: `{"platform": "x"|"meta", "body": {...}}` (sent as is); a raw X or Meta body; or a plain
    post `{"text": ..., "author"?: {...}, "lang"?: ..., "format"?: "xaa"|"aaa"|"facebook"|"instagram"|
    "messenger"|"whatsapp", "created_at"?: ISO}`, wrapped in that format (X Activity API by default).
    """
    if "body" in line and line.get("platform") in ("x", "meta"):
        body = line["body"]
        return Delivery(line["platform"], body, str(line.get("mention_id", "")), str(line.get("channel", "")),
                        truth=line.get("truth") or {})
    if "data" in line or "for_user_id" in line:
        return Delivery("x", line, "", "x")
    if "object" in line and "entry" in line:
        return Delivery("meta", line, "", "")
    if isinstance(line.get("text"), str):
        author = {**generator._author(), **(line.get("author") or {})}
        author.setdefault("username", author.get("handle") or author["username"])
        author["id"] = str(author["id"])
        at = datetime.fromisoformat(line["created_at"].replace("Z", "+00:00")) if line.get("created_at") else \
            datetime.now(timezone.utc)
        fmt = line.get("format", "xaa")
        build = {"xaa": generator.xaa_mention, "aaa": generator.aaa_mention, "facebook": generator.facebook_comment,
                 "instagram": generator.instagram_comment, "messenger": generator.messenger_message,
                 "whatsapp": generator.whatsapp_message}.get(fmt)
        if build is None:
            raise ValueError(f"unknown format {fmt!r}")
        delivery = build(line["text"], line.get("lang"), author, at)
        delivery.truth = line.get("truth") or {}
        return delivery
    raise ValueError("a replay line needs `body`+`platform`, a raw X/Meta body, or `text`")
