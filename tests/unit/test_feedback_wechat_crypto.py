"""WeChat callbacks without I/O: signatures, safe XML (entities refused), Tencent's AES vector."""

from __future__ import annotations

import pytest

from services.feedback.wechat import (
    BadCrypto,
    SafeMode,
    UnsafeXml,
    check_signature,
    parse_xml,
    signature,
    text_reply,
)

# Tencent's published WXBizMsgCrypt sample.
TOKEN, AES_KEY, APP_ID = (
    "spamtest",
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "wx2c2769f8efd9abc2",
)
TIMESTAMP, NONCE = "1409735669", "1320562132"
MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
ENCRYPTED = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQ"
    "HFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tED"
    "YsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbG"
    "py0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv"
    "1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_url_signature_is_sha1_of_the_sorted_parts() -> None:
    assert signature("789", "456", "123") == "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
    assert check_signature("f7c3bc1d808e04732adf679965ccc34ca7ae3441", "123", "456", "789")
    assert not check_signature("f7c3bc1d808e04732adf679965ccc34ca7ae3442", "123", "456", "789")
    assert not check_signature(None, "123", "456", "789")
    assert not check_signature("", "123", "456", "789")


def test_tencents_sample_verifies_and_decrypts() -> None:
    assert signature(TOKEN, TIMESTAMP, NONCE, ENCRYPTED) == MSG_SIGNATURE
    inner = parse_xml(SafeMode(TOKEN, AES_KEY, APP_ID).decrypt(ENCRYPTED))
    assert inner == {
        "ToUserName": "gh_10f6c3c3ac5a",
        "FromUserName": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "CreateTime": "1409735668",
        "MsgType": "text",
        "Content": "abcdteT",
        "MsgId": "6054768590064713728",
    }


def test_safe_mode_refuses_another_account_or_garbage() -> None:
    with pytest.raises(BadCrypto):
        SafeMode(TOKEN, AES_KEY, "wx0000000000000000").decrypt(ENCRYPTED)
    with pytest.raises(BadCrypto):
        SafeMode(TOKEN, AES_KEY, APP_ID).decrypt("not base64!")
    with pytest.raises(BadCrypto):
        SafeMode(TOKEN, "B" * 43, APP_ID).decrypt(ENCRYPTED)
    with pytest.raises(ValueError, match="43-character"):
        SafeMode(TOKEN, "short", APP_ID)


def test_a_reply_encrypts_round_trip_and_is_signed() -> None:
    safe = SafeMode(TOKEN, AES_KEY, APP_ID)
    envelope = parse_xml(
        safe.encrypt(text_reply("o1", "gh", "谢谢 ]]> <b>"), NONCE, TIMESTAMP).encode()
    )
    assert envelope["MsgSignature"] == signature(TOKEN, TIMESTAMP, NONCE, envelope["Encrypt"])
    inner = parse_xml(safe.decrypt(envelope["Encrypt"]))
    assert inner["Content"] == "谢谢 ]]> <b>"
    assert (inner["ToUserName"], inner["FromUserName"], inner["MsgType"]) == ("o1", "gh", "text")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<xml><Content>&lol2;</Content></xml>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Content>&xxe;</Content></xml>"""
PARAMETER = b"""<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1/evil.dtd"> %p;]><xml/>"""
DTD_ONLY = b"""<!DOCTYPE xml SYSTEM "http://127.0.0.1/evil.dtd"><xml><A>1</A></xml>"""
UTF16_BOMB = (
    BOMB.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")
)


@pytest.mark.parametrize("body", [BOMB, EXTERNAL, PARAMETER, DTD_ONLY, UTF16_BOMB])
def test_doctype_and_entities_are_refused(body: bytes) -> None:
    with pytest.raises(UnsafeXml):
        parse_xml(body)


@pytest.mark.parametrize("body", [b"", b"<xml>", b"not xml", b"<xml><A>&undefined;</A></xml>"])
def test_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(UnsafeXml):
        parse_xml(body)


def test_a_plain_message_parses_flat() -> None:
    body = (
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_2]]>"
        "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[ 退订 ]]></Content><MsgId>42</MsgId></xml>"
    ).encode()
    assert parse_xml(body)["Content"] == " 退订 "
    assert parse_xml(b"<xml><A>a &amp; b</A></xml>") == {"A": "a & b"}
