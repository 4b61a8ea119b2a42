"""How long a reply may be on each platform, counted the way that platform counts it.

X counts a post in *weighted* characters (twitter-text 3.x configuration, "Counting characters" in X's developer
documentation): after NFC normalisation, code points in U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F and
U+2032-U+2037 weigh 1, every other code point 2, a URL 23 whatever its length (every link becomes a t.co link), and
an emoji sequence (modifiers, ZWJ joins, flags, keycaps, tag sequences) 2 in all; a post holds 280. The others
count characters (code points): X direct messages 10,000, Facebook comments 8,000, Instagram comment replies 2,200,
Messenger 2,000, Instagram direct messages 1,000, WhatsApp text messages 4,096 (the Graph API and WhatsApp Cloud
API reference pages of each endpoint).

Every count is one pass over the text: the tokenizer's patterns have no nested quantifiers, and a bare domain is
only tried at the start of a word.
"""

from __future__ import annotations

import re
import unicodedata

X_POST_LIMIT = 280
X_URL_WEIGHT = 23
X_EMOJI_WEIGHT = 2
X_DM_LIMIT = 10_000
FACEBOOK_COMMENT_LIMIT = 8_000
INSTAGRAM_COMMENT_LIMIT = 2_200
INSTAGRAM_DM_LIMIT = 1_000
MESSENGER_LIMIT = 2_000
WHATSAPP_TEXT_LIMIT = 4_096

PRIVATE_KINDS = frozenset({"dm", "message"})

# twitter-text's `ranges` of weight 100 (1 character); every other code point has the default weight 200 (2).
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

# Code points that start an emoji (Unicode's emoji data, grouped by block); over-inclusion is harmless because
# each of these weighs 2 on its own anyway.
_EMOJI_CHAR = ("[\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2\u25aa-\u25fe\u2600-\u27bf\u2934\u2935"
               "\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001f1e5\U0001f200-\U0001faff]")
_EMOJI_ELEMENT = f"(?:{_EMOJI_CHAR}|[\u00a9\u00ae](?=\ufe0f))[\ufe0f\U0001f3fb-\U0001f3ff]*"
_EMOJI_SEQUENCE = (
    "[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
    "|[0-9#*]\ufe0f?\u20e3"  # a keycap
    f"|{_EMOJI_ELEMENT}(?:[\U000e0020-\U000e007e]+\U000e007f)?(?:\u200d{_EMOJI_ELEMENT})*"
)
_GTLDS = ("com|net|org|edu|gov|mil|int|info|biz|name|pro|aero|coop|museum|mobi|asia|tel|travel|jobs|cat|app|dev|"
          "io|ai|xyz|online|site|shop|store|tech|blog|news|cloud|page|link|live|social|media|email|help|support")
_URL = (
    r"(?P<proto>https?://[^\s<>\"]+)"
    # Without a scheme twitter-text links a domain it knows the TLD of; a single label on a country TLD ("t.co",
    # "example.de") only when a path follows.
    r"|(?<![\w@./\-])(?P<bare>(?P<labels>(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+)"
    rf"(?P<tld>{_GTLDS}|[a-z]{{2}})(?![\w\-])(?::\d{{1,5}})?(?P<path>[/?#][^\s<>\"]*)?)"
)
_TOKEN = re.compile(f"(?P<url>{_URL})|(?P<emoji>{_EMOJI_SEQUENCE})|(?P<char>.)", re.IGNORECASE | re.DOTALL)
# twitter-text leaves these out of the end of a URL.
_URL_TRAILING = ".,;:!?'\")]}"


def _weight(char: str) -> int:
    code = ord(char)
    return 1 if any(lo <= code <= hi for lo, hi in _LIGHT_RANGES) else 2


def x_weighted_length(text: str) -> int:
    """The length of a post as X counts it (280 allowed)."""
    used = 0
    for match in _TOKEN.finditer(unicodedata.normalize("NFC", text)):
        kind = match.lastgroup
        if kind == "char":
            used += _weight(match.group())
        elif kind == "emoji":
            used += X_EMOJI_WEIGHT
        elif match.group("proto") is not None:
            url = match.group("proto")
            kept = url.rstrip(_URL_TRAILING)
            used += X_URL_WEIGHT + sum(_weight(c) for c in url[len(kept):])
        elif (len(match.group("tld")) == 2 and match.group("labels").count(".") == 1
              and not match.group("path")):
            used += sum(_weight(c) for c in match.group())  # a short country-TLD domain is plain text to X
        else:
            url = match.group()
            kept = url.rstrip(_URL_TRAILING)
            used += X_URL_WEIGHT + sum(_weight(c) for c in url[len(kept):])
    return used


def reply_limit(channel: str, kind: str) -> int:
    """The most a reply to a mention of this channel and kind may hold, in the platform's own unit."""
    private = kind in PRIVATE_KINDS
    if channel == "x":
        return X_DM_LIMIT if private else X_POST_LIMIT
    if channel == "instagram":
        return INSTAGRAM_DM_LIMIT if private else INSTAGRAM_COMMENT_LIMIT
    limits = {"facebook": FACEBOOK_COMMENT_LIMIT, "messenger": MESSENGER_LIMIT, "whatsapp": WHATSAPP_TEXT_LIMIT}
    if channel not in limits:
        raise ValueError(f"no reply limit for channel {channel!r}")
    return limits[channel]


def counts_weighted(channel: str, kind: str) -> bool:
    """Whether the platform weighs characters (X posts) rather than counting them."""
    return channel == "x" and kind not in PRIVATE_KINDS


def reply_length(channel: str, kind: str, text: str) -> tuple[int, int]:
    """(used, limit) for a reply text, in the platform's own unit."""
    limit = reply_limit(channel, kind)
    if counts_weighted(channel, kind):
        return x_weighted_length(text), limit
    return len(text), limit
