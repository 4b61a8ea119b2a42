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
# Viral surges: each failure is worded many ways that share few exact words, as customers word them. Every
# failure has two disjoint sets of wordings: "tuning" (what the clustering may be tuned on) and "held_out" (what it
# is scored on, never tuned on). {device} and {item} are filled in per mention; openers, tails, hashtags, emoji
# and typos are added around them.
SURGE_WORDINGS: dict[str, dict[str, list[str]]] = {
    # Checkout payments failing after an app update (English).
    "checkout": {
        "tuning": [
            "your app keeps failing at checkout, payment won't go through",
            "checkout is broken again, card declined 5 times but my bank says it's fine",
            "can't pay for anything in the app since the update",
            "payment error at checkout every single time. fix your app",
            "is checkout down?? my payment keeps failing",
            "the new update broke payments, error at the last step of checkout",
            "tried 3 cards, checkout fails every time. what is going on",
            "your checkout says 'payment failed' but money left my account",
            "card rejected on {device}, works everywhere else",
            "charged me but no order showed up",
        ],
        "held_out": [
            "the pay button just spins forever on my {device} and then says something went wrong",
            "my bank shows the money gone but your site says the transaction didn't complete",
            "tried to buy the {item} three times and the order won't submit",
            "keeps telling me my card isn't accepted, it's a brand new card",
            "stuck on the payment screen, nothing happens when I confirm",
            "paypal errors out and visa gets refused, how am I supposed to buy anything",
            "got billed twice and still no order confirmation",
            "purchase won't process no matter which card I use",
            "error when I press place order on {device}, been trying for an hour",
            "the payment page is dead, can't finish my order",
            "declined declined declined. my card is fine, your checkout isn't",
            "bought the {item}, money taken, order never went through",
        ],
    },
    # Logins failing: sign-in codes never arriving, sessions dropped (English).
    "login": {
        "tuning": [
            "can't log in to my account, the code never arrives",
            "login is broken, it keeps saying wrong password but it's right",
            "the app logs me out every two minutes since this morning",
            "password reset link is expired before I even open it",
            "my account is locked and the unlock email never comes",
            "sign in fails on {device}, just an endless loading circle",
        ],
        "held_out": [
            "the verification code you text me never shows up so I'm stuck outside my account",
            "two factor is broken, no sms, no email, nothing",
            "it keeps kicking me back to the sign-in page on {device}",
            "forgot password does nothing, no reset mail arrives",
            "says my credentials are invalid, they're saved in my password manager",
            "can't get into my profile at all today, access denied",
            "logged out of everything and the login screen won't accept me",
            "authentication error every time I open the app on my {device}",
        ],
    },
    # The same checkout failure, in Spanish (one incident with the English surge: same failure, same fix).
    "checkout_es": {
        "tuning": [
            "no puedo pagar en la app desde la actualización",
            "me rechaza la tarjeta en el pago y el banco dice que está bien",
            "el pago falla siempre en el último paso de la compra",
            "me cobraron pero no aparece el pedido",
            "error al pagar con cualquier tarjeta",
        ],
        "held_out": [
            "el botón de pagar se queda cargando en mi {device} y luego sale un error",
            "intento comprar el {item} y la compra no se completa",
            "el banco me descontó el dinero pero la transacción aparece como fallida",
            "tarjeta denegada una y otra vez, y es nueva",
            "la pasarela de pago no funciona, imposible terminar el pedido",
            "me han cobrado dos veces y no tengo confirmación del pedido",
        ],
    },
}
SURGE_LANGUAGE = {"checkout": "en", "login": "en", "checkout_es": "es"}
SURGE_TOPIC = {"checkout": "payment", "login": "account", "checkout_es": "payment"}
# Which incident a failure belongs to: the Spanish checkout complaints are the same incident as the English ones.
SURGE_INCIDENT = {"checkout": "checkout", "login": "login", "checkout_es": "checkout"}
SURGE_OPENERS = {
    "en": ["", "", "", "ugh", "seriously?", "@AcmeHelp seriously?", "hey", "wtf", "omg", "not again.", "lol ok so",
           "anyone else?", "day 2 of this:", "PSA:", "hello??", "come on", "great.", "🙃"],
    "es": ["", "", "", "otra vez", "en serio?", "hola", "vaya", "uf", "alguien más?", "de verdad"],
}
SURGE_TAILS = {
    "en": ["", "", "", "", "fix it", "please fix", "this is ridiculous", "so annoying", "not happy",
           "what a joke", "losing my patience", "thanks for nothing", "any update?", "is it just me?",
           "third time today", "sort it out"],
    "es": ["", "", "", "arreglenlo ya", "qué vergüenza", "vaya desastre", "alguna solución?", "qué pasa?"],
}
SURGE_HASHTAGS = {
    "checkout": ["", "", "", "#AcmeDown", "#checkoutfail", "#CheckoutFail", "#fixit", "#acme", "#PaymentFailed"],
    "login": ["", "", "", "#AcmeDown", "#LoginIssues", "#cantlogin", "#acme"],
    "checkout_es": ["", "", "", "#AcmeCaído", "#acme", "#FalloPago"],
}
SURGE_EMOJI = ["", "", "", "😡", "🤬", "😤", "🙄", "😭", "💳❌", "🤦‍♀️", "👎👎", "😩😩😩"]
DEVICES = ["iPhone 15", "iphone", "Pixel 8", "Galaxy S23", "android", "ipad", "laptop", "Chrome", "Safari",
           "Firefox", "OnePlus", "Xiaomi", "work PC", "mac"]
ITEMS = ["headphones", "blue jacket", "coffee machine", "running shoes", "gift card", "phone case", "lamp",
         "backpack", "air fryer", "desk chair"]
# A surge as it came before these wordings (one sentence pattern repeated): kept for the tests' comparison.
SURGE_TEMPLATES = SURGE_WORDINGS["checkout"]["tuning"]

# Busy but unrelated negative traffic: many complaints on many subjects, none of them a surge. Each subject has a
# few wordings; subjects are independent, so no one failure dominates a window.
BUSY_COMPLAINTS: dict[str, list[str]] = {
    "late_parcel": ["my parcel was due tuesday and still nothing", "where is my package, tracking says delayed",
                    "order {order} is a week late"],
    "damaged": ["the {item} arrived with a cracked case", "box was crushed and the {item} is dented"],
    "wrong_item": ["ordered the {item} and got something else entirely", "wrong size sent again"],
    "refund_slow": ["still no refund for the {item} I sent back a month ago", "refund promised in 5 days, it's been 20"],
    "rude_staff": ["the staff at your Leeds store were so rude to my mum", "cashier rolled her eyes at me"],
    "queue": ["45 minutes on hold and then the call dropped", "your chat bot sends me in circles"],
    "price": ["price went up by 30% overnight, shameful", "the sale price vanished at the till"],
    "quality": ["the {item} broke after two uses", "stitching on the {item} came apart in a week"],
    "newsletter": ["I unsubscribed and you still spam me daily", "stop sending me texts, I never signed up"],
    "store_closed": ["store on Main St closed an hour early with no notice", "drove 40 min and the shop was shut"],
    "courier": ["your courier left my parcel in the rain", "driver marked delivered but it's not here"],
    "fees": ["why is there a £4 fee for returns now", "hidden service charge on my bill"],
    "stock": ["out of stock again? third week in a row", "the {item} shows in stock online but never in store"],
    "voucher": ["my voucher code says expired, it's valid till march", "gift card balance shows zero"],
    "invoice": ["invoice for {order} has the wrong VAT number", "still no invoice for my business order"],
    "app_ui": ["the new app layout is awful, can't find anything", "why did you remove dark mode"],
    "address": ["can't change my delivery address anywhere", "parcel went to my old address again"],
    "warranty": ["warranty claim rejected for no reason", "repair has taken six weeks so far"],
}
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
    at: datetime | None = None  # when the platform says it was posted (the generator's clock)

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
        return text.format(order=f"#{self.rng.randint(10000, 99999)}", n=n, tag="", item=self.rng.choice(ITEMS))

    def normal(self, count: int, spacing: float = 1.0) -> Iterator[Delivery]:
        """Everyday traffic: mixed topics, languages, sentiments and channels; ~3% crisis, ~4% VIPs; posted `spacing`
        seconds apart."""
        for i in range(count):
            crisis = self.rng.random() < 0.03
            intent, topic, sentiment, lang, text = self.rng.choice(CRISIS_TEMPLATES if crisis else TEMPLATES)
            vip = self.rng.random() < 0.04
            yield self._delivery(self._fill(text, i), lang, self._author(vip),
                                 {"intent": intent, "topic": topic, "sentiment": sentiment, "language": lang,
                                  "crisis": crisis, "vip": vip, "surge": False},
                                 at=self.start + timedelta(seconds=i * spacing))

    def surge(self, count: int, offset_seconds: float = 0, failures: tuple[str, ...] = ("checkout",),
              wordings: str = "held_out", spacing: float = 0.05) -> Iterator[Delivery]:
        """A viral complaint: mentions of one failure (or several, interleaved: simultaneous surges), mostly on X,
        each worded from `wordings` ("held_out" to score, "tuning" to tune) with openers, tails, hashtags, emoji,
        typos and device names."""
        for i in range(count):
            failure = failures[i % len(failures)] if len(failures) > 1 else failures[0]
            lang = SURGE_LANGUAGE[failure]
            text = self.surge_text(failure, wordings)
            yield self._delivery(text, lang, self._author(self.rng.random() < 0.01),
                                 {"intent": "complaint", "topic": SURGE_TOPIC[failure], "sentiment": "negative",
                                  "language": lang, "crisis": False, "vip": False, "surge": True,
                                  "surge_id": SURGE_INCIDENT[failure], "failure": failure, "wordings": wordings},
                                 at=self.start + timedelta(seconds=offset_seconds + i * spacing),
                                 channel_weights=(0.9, 0.1))

    def surge_text(self, failure: str, wordings: str = "held_out") -> str:
        """One customer's wording of `failure`: a template of that split, filled in and dressed."""
        lang = SURGE_LANGUAGE[failure]
        body = self.rng.choice(SURGE_WORDINGS[failure][wordings]).format(device=self.rng.choice(DEVICES),
                                                                         item=self.rng.choice(ITEMS))
        if self.rng.random() < 0.25:
            body = self._typo(body)
        parts = [self.rng.choice(SURGE_OPENERS[lang]), body, self.rng.choice(SURGE_TAILS[lang]),
                 self.rng.choice(SURGE_HASHTAGS[failure]), self.rng.choice(SURGE_EMOJI)]
        if self.rng.random() < 0.3:
            parts[1] = parts[1].capitalize()
        return " ".join(p for p in parts if p)

    def _typo(self, text: str) -> str:
        """One slip of the thumb in a longer word: two letters swapped, one dropped, or one doubled."""
        words = text.split(" ")
        long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if not long:
            return text
        i = self.rng.choice(long)
        w, at = words[i], self.rng.randint(1, len(words[i]) - 2)
        kind = self.rng.randrange(3)
        words[i] = (w[:at] + w[at + 1] + w[at] + w[at + 2:] if kind == 0 else
                    w[:at] + w[at + 1:] if kind == 1 else w[:at] + w[at] + w[at:])
        return " ".join(words)

    def busy(self, count: int, offset_seconds: float = 0, spacing: float = 0.5) -> Iterator[Delivery]:
        """Busy but unrelated negative traffic: complaints on many subjects, none of them a surge."""
        for i in range(count):
            subject = self.rng.choice(sorted(BUSY_COMPLAINTS))
            body = self._fill(self.rng.choice(BUSY_COMPLAINTS[subject]), i)
            parts = [self.rng.choice(SURGE_OPENERS["en"]), body, self.rng.choice(SURGE_TAILS["en"]),
                     self.rng.choice(SURGE_EMOJI)]
            yield self._delivery(" ".join(p for p in parts if p), "en", self._author(self.rng.random() < 0.02),
                                 {"intent": "complaint", "topic": "other", "sentiment": "negative", "language": "en",
                                  "crisis": False, "vip": False, "surge": False, "busy": subject},
                                 at=self.start + timedelta(seconds=offset_seconds + i * spacing))

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
        delivery.at = at
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


# -- surge scenarios and their scores --------------------------------------------------------------------------

SCENARIOS = ("held_out", "two_surges", "bilingual", "busy")


def surge_scenario(name: str, seed: int = 11, wordings: str = "held_out", surge: int = 300,
                   background: int = 300, start: datetime | None = None,
                   extra_background: list[Delivery] | None = None) -> list[Delivery]:
    """A seeded scenario in time order: everyday and busy unrelated traffic for the whole run and, except in
    "busy", a surge starting a minute in. "two_surges": checkout and login failing at once (two incidents);
    "bilingual": the checkout failure in English and Spanish (one incident); "busy": no surge at all."""
    generator = TrafficGenerator(seed, start=start or datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    failures = {"held_out": ("checkout",), "two_surges": ("checkout", "login"),
                "bilingual": ("checkout", "checkout_es", "checkout"), "busy": ()}[name]
    # Background at 2 a second for the whole run: half everyday traffic, half unrelated complaints.
    seconds = 60 + surge * 0.2 + 60
    spacing = max(seconds / max(background, 1), 0.05)
    deliveries = list(generator.normal(background // 2))
    for i, d in enumerate(deliveries):  # spread the everyday traffic over the run, not one a second
        d.at = generator.start + timedelta(seconds=i * 2 * spacing)
    deliveries += list(generator.busy(background - background // 2, offset_seconds=spacing, spacing=2 * spacing))
    if failures:
        deliveries += list(generator.surge(surge, offset_seconds=60, failures=failures, wordings=wordings,
                                           spacing=0.2))
    deliveries += extra_background or []
    return sorted(deliveries, key=lambda d: d.at or generator.start)


def score_incidents(truth: dict[tuple[str, str], dict[str, Any]],
                    incidents: list[dict[str, Any]]) -> dict[str, Any]:
    """Each incident is given to the surge most of its members belong to (none: a false incident); per surge,
    precision (its incidents' members that are in it) and recall (its mentions in its incidents)."""
    surges: dict[str, set[tuple[str, str]]] = {}
    for key, t in truth.items():
        if t.get("surge"):
            surges.setdefault(str(t.get("surge_id") or "surge"), set()).add(key)
    members_of: dict[str, set[tuple[str, str]]] = {s: set() for s in surges}
    incidents_of: dict[str, int] = {s: 0 for s in surges}
    false_incidents, seen, doubled = 0, set(), 0
    for incident in incidents:
        members = {(m["channel"], m["mention_id"]) for m in incident.get("members") or []}
        doubled += len(members & seen)
        seen |= members
        votes = {s: len(members & keys) for s, keys in surges.items()}
        owner = max(votes, key=lambda s: votes[s], default=None)
        if owner is None or votes[owner] * 2 <= len(members):
            false_incidents += 1
            continue
        members_of[owner] |= members
        incidents_of[owner] += 1
    per_surge = {}
    for s, keys in surges.items():
        hit = len(members_of[s] & keys)
        per_surge[s] = {"mentions": len(keys), "incidents": incidents_of[s], "members": len(members_of[s]),
                        "precision": hit / len(members_of[s]) if members_of[s] else 0.0,
                        "recall": hit / len(keys)}
    return {"surges": per_surge, "false_incidents": false_incidents, "in_two_incidents": doubled}
