"""The OTP HMAC key and the token signing key are not SECRET_KEY (issue 11, item 9)."""

from __future__ import annotations

import jwt
import pytest

from authenticator.core.conf import app_settings
from authenticator.tokenizer.local import LocalTokenizer
from otp.services import otp_hash


@pytest.fixture
def unset_keys(settings):
    settings.SECRET_KEY = "a-secret-key-for-this-test-only-0123456789abcdef"
    settings.AUTHENTICATOR = {**settings.AUTHENTICATOR, "OTP_HMAC_KEY": None, "TOKENIZER_SIGNING_KEY": None}
    return settings


def test_unset_keys_are_derived_from_secret_key_under_distinct_labels(unset_keys):
    otp_key, signing_key = app_settings.OTP_HMAC_KEY, app_settings.TOKENIZER_SIGNING_KEY
    assert len({otp_key, signing_key, unset_keys.SECRET_KEY}) == 3
    assert len(bytes.fromhex(otp_key)) == len(bytes.fromhex(signing_key)) == 32
    unset_keys.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert app_settings.OTP_HMAC_KEY != otp_key


@pytest.mark.django_db
def test_access_tokens_do_not_verify_with_secret_key(unset_keys):
    pair = LocalTokenizer().issue(subject="1", session_id="77", amr=["otp_sms"], level=1, ip=None, user_agent="", idempotency_key="k")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(pair.access_token, unset_keys.SECRET_KEY, algorithms=["HS256"], issuer="authenticator")
    jwt.decode(pair.access_token, app_settings.TOKENIZER_SIGNING_KEY, algorithms=["HS256"], issuer="authenticator")


def test_a_stored_code_hash_is_not_keyed_with_secret_key(unset_keys):
    import hashlib
    import hmac

    with_secret = hmac.new(unset_keys.SECRET_KEY.encode(), b"signin\x1f+447400123456\x1f123456", hashlib.sha256).hexdigest()
    assert otp_hash(code="123456", purpose="signin", sent_to="+447400123456") != with_secret


def test_a_key_that_is_set_is_used_as_given(unset_keys):
    unset_keys.AUTHENTICATOR = {**unset_keys.AUTHENTICATOR, "OTP_HMAC_KEY": "explicit-otp-key"}
    assert app_settings.OTP_HMAC_KEY == "explicit-otp-key"
