"""Signatures and handshakes: exact wire values, tampering, wrong secrets, missing headers."""

from __future__ import annotations

import pytest

from responder.ingest.signatures import (
    SignatureMismatch,
    SignatureMissing,
    sign_meta,
    sign_x,
    verify_meta_signature,
    verify_x_signature,
    x_crc_response,
)

BODY = b'{"object":"page","entry":[]}'


def test_x_crc_matches_a_vector_computed_with_openssl():
    # Given the vector from `echo -n abc | openssl dgst -sha256 -hmac test-x-secret -binary | base64`
    # When the CRC answer is computed for token "abc"
    answer = x_crc_response("test-x-secret", "abc")
    # Then it is the base64 HMAC with the sha256= prefix
    assert answer == {"response_token": "sha256=4BZEcGP23eowdurmbd4eP4OuhAV2pHcJGHIApzjUKlE="}


def test_meta_signature_is_hex_and_matches_openssl():
    # Given `echo -n BODY | openssl dgst -sha256 -hmac test-meta-secret`
    assert sign_meta("test-meta-secret", BODY) == (
        "sha256=3277018a6e62e0f76579d9b06e0e06ebad0aba2749d84555a7ac1b332b728d8b")


@pytest.mark.parametrize("verify, sign", [(verify_x_signature, sign_x), (verify_meta_signature, sign_meta)])
def test_valid_signature_is_accepted(verify, sign):
    verify("s3", BODY, sign("s3", BODY))  # no exception


@pytest.mark.parametrize("verify, sign", [(verify_x_signature, sign_x), (verify_meta_signature, sign_meta)])
def test_tampered_body_is_rejected(verify, sign):
    # Given a signature of the original body, When one byte of the body changes
    header = sign("s3", BODY)
    # Then verification fails as a mismatch
    with pytest.raises(SignatureMismatch):
        verify("s3", BODY.replace(b"page", b"pagE"), header)


@pytest.mark.parametrize("verify, sign", [(verify_x_signature, sign_x), (verify_meta_signature, sign_meta)])
def test_wrong_secret_is_rejected(verify, sign):
    with pytest.raises(SignatureMismatch):
        verify("s3", BODY, sign("another", BODY))


@pytest.mark.parametrize("verify", [verify_x_signature, verify_meta_signature])
@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header_is_reported_as_missing(verify, header):
    with pytest.raises(SignatureMissing):
        verify("s3", BODY, header)


def test_x_and_meta_encodings_are_not_interchangeable():
    # A hex digest sent to the X endpoint (or base64 to Meta) is a forgery, not a format to guess.
    with pytest.raises(SignatureMismatch):
        verify_x_signature("s3", BODY, sign_meta("s3", BODY))
    with pytest.raises(SignatureMismatch):
        verify_meta_signature("s3", BODY, sign_x("s3", BODY))


def test_meta_hex_case_does_not_matter():
    header = sign_meta("s3", BODY)
    verify_meta_signature("s3", BODY, "sha256=" + header[7:].upper())


def test_garbage_header_with_non_ascii_is_a_mismatch_not_a_crash():
    with pytest.raises(SignatureMismatch):
        verify_x_signature("s3", BODY, "sha256=ÿÿÿ")
