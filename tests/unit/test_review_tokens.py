"""Review links: a token grants one mention until it expires; forged, tampered or foreign tokens and nonces fail."""

from __future__ import annotations

import base64
import json

import pytest

from responder.replies.tokens import ReviewSigner, TokenExpired, TokenInvalid

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
NOW = 1_780_000_000


def _flip(text: str) -> str:
    """The same text with its first character changed (the first character carries six signed bits)."""
    return ("B" if text[0] == "A" else "A") + text[1:]


def _signer(key: bytes = KEY, ttl: int = 3600) -> ReviewSigner:
    return ReviewSigner(key, ttl)


def test_a_token_grants_its_mention_until_it_expires():
    # Given a token issued now for one mention
    signer = _signer()
    token = signer.token("x", "1900000000000000001", now=NOW)
    # When it is verified a second before its expiry, and at its expiry
    target = signer.verify(token, now=NOW + 3599)
    # Then it names the mention and its expiry, and is refused as expired (410) from then on
    assert (target.channel, target.mention_id, target.expires_at) == ("x", "1900000000000000001", NOW + 3600)
    with pytest.raises(TokenExpired):
        signer.verify(token, now=NOW + 3600)


def test_a_token_signed_with_another_key_is_forged():
    # Given a well-formed token signed by someone else's key
    token = _signer(OTHER_KEY).token("x", "1", now=NOW)
    # When this deployment verifies it
    # Then it is refused as invalid (403), not as expired or valid
    with pytest.raises(TokenInvalid):
        _signer().verify(token, now=NOW)


def test_a_token_whose_payload_was_changed_is_refused():
    # Given a genuine token whose payload is rewritten to name another mention and a later expiry
    signer = _signer()
    payload, signature = signer.token("x", "1", now=NOW).split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"c": "x", "m": "2", "e": NOW + 10**9, "v": 1},
                                                 separators=(",", ":")).encode()).rstrip(b"=").decode()
    # When either part is altered
    # Then the token is refused as invalid
    for token in (f"{forged}.{signature}", f"{payload}.{_flip(signature)}", f"{payload}x.{signature}",
                  f"{payload}.{signature}.extra", "", "." * 5, "a" * 2000, None, 42):
        with pytest.raises(TokenInvalid):
            signer.verify(token, now=NOW)


def test_an_expired_token_is_refused_even_when_the_expiry_was_far_off():
    # Given a signer with a one-minute lifetime
    signer = _signer(ttl=60)
    token = signer.token("whatsapp", "wamid.ABC", now=NOW)
    # When it is presented an hour later
    # Then it is expired
    with pytest.raises(TokenExpired):
        signer.verify(token, now=NOW + 3600)


def test_a_nonce_is_valid_only_for_the_token_it_was_rendered_for():
    # Given two tokens and a nonce rendered for the first
    signer = _signer()
    first, second = signer.token("x", "1", now=NOW), signer.token("x", "2", now=NOW)
    nonce = signer.nonce(first)
    # When the nonce is checked against each token and against another key
    # Then only its own token accepts it
    assert signer.check_nonce(first, nonce) == nonce.split(".")[0] and len(nonce.split(".")[0]) == 22
    with pytest.raises(TokenInvalid):
        signer.check_nonce(second, nonce)
    with pytest.raises(TokenInvalid):
        _signer(OTHER_KEY).check_nonce(first, nonce)


def test_a_tampered_or_malformed_nonce_is_refused():
    # Given a genuine nonce
    signer = _signer()
    token = signer.token("x", "1", now=NOW)
    random, mac = signer.nonce(token).split(".")
    # When its random part or its MAC is altered, or it is not a nonce at all
    altered = [f"{_flip(random)}.{mac}", f"{random}.{_flip(mac)}",
               "", None, f"{random}.{mac}.x", f"{random}.{mac}" + "=" * 2]
    # Then each is refused
    for nonce in altered:
        with pytest.raises(TokenInvalid):
            signer.check_nonce(token, nonce)


def test_every_rendering_gets_a_fresh_nonce():
    # Given one token rendered twice (two GETs, two tabs)
    signer = _signer()
    token = signer.token("x", "1", now=NOW)
    # When two nonces are made
    # Then they differ (a claim records its nonce, so a second form is a second, distinguishable approval)
    assert signer.nonce(token) != signer.nonce(token)
