"""Reply lengths counted as each platform counts them (X's weighted characters, code points elsewhere)."""

from __future__ import annotations

import pytest

from responder.replies.limits import reply_length, reply_limit, x_weighted_length


@pytest.mark.parametrize(("text", "weight"), [
    ("hello", 5),
    ("日本語のテキスト", 16),  # CJK weighs 2 per character
    ("Ελληνικά кириллица", 18),  # U+0000-U+10FF weigh 1
    ("“quoted” — dash…", 17),  # quotes and dashes (U+2010-U+201F) weigh 1, the ellipsis U+2026 weighs 2
    ("see https://example.com/a/really/long/path/that/keeps/going?with=query", 27),
    ("https://t.co/x", 23),
    ("visit example.com now", 33),
    ("t.co is short", 13),  # a single label on a country TLD without a path is plain text
    ("t.co/abc", 23),
    ("ok.", 3),
    ("👨‍👩‍👧‍👦", 2),  # a ZWJ family sequence
    ("👍🏽", 2),  # a skin-tone modifier
    ("🇫🇷🇩🇪", 4),  # two flags
    ("1️⃣", 2),  # a keycap
    ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2),  # a tag sequence (Scotland)
    ("❤️", 2),
    ("e\u0301", 1),  # NFC first: é is one code point
])
def test_x_counts_weighted_characters(text, weight):
    # Given a reply on X
    # When its length is counted
    # Then it weighs what X's counting rules say
    assert x_weighted_length(text) == weight


def test_a_url_counts_23_whatever_its_length_but_not_its_trailing_punctuation():
    # Given a sentence ending with a long URL and a full stop
    text = "Read https://status.example.com/incidents/2026-12-01/very-long-slug-of-the-incident."
    # When X counts it
    # Then the URL weighs 23 and the full stop 1
    assert x_weighted_length(text) == len("Read ") + 23 + 1


def test_x_posts_stop_at_280_and_dms_count_characters():
    # Given 140 CJK characters (280 weighted) and one more
    # When counted as an X post and as an X DM
    # Then the post is exactly at its limit, then over; the DM counts characters against 10,000
    assert reply_length("x", "mention", "字" * 140) == (280, 280)
    assert reply_length("x", "reply", "字" * 141) == (282, 280)
    assert reply_length("x", "dm", "字" * 141) == (141, 10_000)


@pytest.mark.parametrize(("channel", "kind", "limit"), [
    ("x", "mention", 280), ("x", "dm", 10_000), ("facebook", "comment", 8_000), ("instagram", "comment", 2_200),
    ("instagram", "mention", 2_200), ("instagram", "dm", 1_000), ("messenger", "message", 2_000),
    ("whatsapp", "message", 4_096),
])
def test_each_platform_has_its_own_limit(channel, kind, limit):
    # Given a mention of each channel and kind
    # When its reply limit is asked
    # Then it is the platform's documented one
    assert reply_limit(channel, kind) == limit
    assert reply_length(channel, kind, "字👍")[1] == limit


def test_outside_x_characters_are_code_points():
    # Given an emoji and a CJK character on WhatsApp
    # When counted
    # Then each code point is one character (no weights)
    assert reply_length("whatsapp", "message", "字👍🏽") == (3, 4096)


def test_an_unknown_channel_has_no_limit():
    with pytest.raises(ValueError):
        reply_limit("myspace", "post")
