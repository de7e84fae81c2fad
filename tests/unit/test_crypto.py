"""Patient identifiers encrypted at rest: round trips, look-up hashes, rotation, clear errors."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from mmt.keys import keys
from shared.crypto import (
    ConfigurationError,
    IdentifierCipher,
    IdentifierSettings,
    InvalidIdentifier,
    generate_keys,
)

PHONE = "+8613800138000"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

runner = CliRunner()


def _hmac_key() -> bytes:
    return secrets.token_bytes(32)


def _key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def cipher() -> IdentifierCipher:
    return IdentifierCipher([_key()], _hmac_key())


@pytest.fixture
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDENTIFIER_KEYS", raising=False)
    monkeypatch.delenv("IDENTIFIER_HMAC_KEY", raising=False)


@pytest.mark.parametrize("value", [PHONE, OPENID, "", "患者 ✓"])
def test_round_trip(cipher: IdentifierCipher, value: str) -> None:
    assert cipher.decrypt(cipher.encrypt(value)) == value


def test_ciphertext_differs_each_time_and_hides_the_value(cipher: IdentifierCipher) -> None:
    tokens = {cipher.encrypt(PHONE) for _ in range(5)}
    assert len(tokens) == 5
    for token in tokens:
        assert PHONE not in token
        assert "8613800138000" not in token
        assert cipher.decrypt(token) == PHONE


def test_lookup_hash_is_deterministic_hex_sha256(cipher: IdentifierCipher) -> None:
    first = cipher.lookup_hash(PHONE)
    assert first == cipher.lookup_hash(PHONE)
    assert len(first) == 64
    int(first, 16)  # hex
    assert PHONE not in first
    assert first != cipher.lookup_hash("+8613800138001")


def test_lookup_hash_ignores_surrounding_whitespace(cipher: IdentifierCipher) -> None:
    assert cipher.lookup_hash(f"  {PHONE}\n") == cipher.lookup_hash(PHONE)
    assert cipher.lookup_hash(f"\t{OPENID} ") == cipher.lookup_hash(OPENID)


def test_lookup_hash_differs_per_hmac_key_but_not_per_fernet_key() -> None:
    hmac_key = _hmac_key()
    one = IdentifierCipher([_key()], hmac_key)
    same_hmac = IdentifierCipher([_key()], hmac_key)
    other_hmac = IdentifierCipher([_key()], _hmac_key())
    assert one.lookup_hash(PHONE) == same_hmac.lookup_hash(PHONE)
    assert one.lookup_hash(PHONE) != other_hmac.lookup_hash(PHONE)


def test_rotation_keeps_old_tokens_readable_and_moves_them_to_the_new_key() -> None:
    hmac_key = _hmac_key()
    old_key, new_key = _key(), _key()
    before = IdentifierCipher([old_key], hmac_key)
    old_token = before.encrypt(PHONE)

    during = IdentifierCipher([new_key, old_key], hmac_key)
    assert during.key_count == 2
    assert during.decrypt(old_token) == PHONE
    assert during.needs_rotation(old_token) is True

    rotated = during.rotate(old_token)
    assert rotated != old_token
    assert during.needs_rotation(rotated) is False
    assert during.needs_rotation(during.encrypt(PHONE)) is False

    after = IdentifierCipher([new_key], hmac_key)
    assert after.decrypt(rotated) == PHONE
    with pytest.raises(InvalidIdentifier):
        after.decrypt(old_token)


def test_token_from_an_unrelated_key_is_invalid_without_leaking(
    cipher: IdentifierCipher,
) -> None:
    stranger = IdentifierCipher([_key()], _hmac_key())
    token = stranger.encrypt(PHONE)
    for attempt in (cipher.decrypt, cipher.rotate, cipher.needs_rotation):
        with pytest.raises(InvalidIdentifier) as caught:
            attempt(token)
        text = f"{caught.value} {caught.value!r}"
        assert "IDENTIFIER_KEYS" in text
        assert token not in text
        assert PHONE not in text
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None
        assert not isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize("token", ["", "not a token", "gAAAA" + "x" * 80, "tökén"])
def test_garbage_token_is_invalid(cipher: IdentifierCipher, token: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        cipher.decrypt(token)
    if token:
        assert token not in str(caught.value)


def test_from_settings_builds_a_working_cipher() -> None:
    generated = generate_keys()
    second = _key()
    settings = IdentifierSettings(
        identifier_keys=f" {generated['IDENTIFIER_KEYS']} , {second},",
        identifier_hmac_key=generated["IDENTIFIER_HMAC_KEY"],
    )
    cipher = IdentifierCipher.from_settings(settings)
    assert cipher.key_count == 2
    assert cipher.decrypt(cipher.encrypt(OPENID)) == OPENID
    # The first listed key is the one that encrypts.
    alone = IdentifierCipher([generated["IDENTIFIER_KEYS"]], _hmac_key())
    assert alone.decrypt(cipher.encrypt(OPENID)) == OPENID


def test_hmac_key_padding_is_optional() -> None:
    raw = secrets.token_bytes(32)
    unpadded = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    padded = base64.urlsafe_b64encode(raw).decode()
    key = _key()
    a = IdentifierCipher.from_settings(
        IdentifierSettings(identifier_keys=key, identifier_hmac_key=unpadded)
    )
    b = IdentifierCipher([key], raw)
    c = IdentifierCipher.from_settings(
        IdentifierSettings(identifier_keys=key, identifier_hmac_key=padded)
    )
    assert a.lookup_hash(PHONE) == b.lookup_hash(PHONE) == c.lookup_hash(PHONE)


def test_settings_never_show_the_keys() -> None:
    generated = generate_keys()
    settings = IdentifierSettings(
        identifier_keys=generated["IDENTIFIER_KEYS"],
        identifier_hmac_key=generated["IDENTIFIER_HMAC_KEY"],
    )
    shown = f"{settings!r} {settings}"
    assert generated["IDENTIFIER_KEYS"] not in shown
    assert generated["IDENTIFIER_HMAC_KEY"] not in shown
    for field in IdentifierSettings.model_fields.values():
        assert field.description
        assert "mmt keys generate" in field.description


@pytest.mark.parametrize(
    ("keys_value", "hmac_value", "variable"),
    [
        (None, "generated", "IDENTIFIER_KEYS"),
        ("  , ", "generated", "IDENTIFIER_KEYS"),
        ("generated", None, "IDENTIFIER_HMAC_KEY"),
        ("generated", "   ", "IDENTIFIER_HMAC_KEY"),
    ],
)
def test_missing_keys_name_the_variable(
    keys_value: str | None, hmac_value: str | None, variable: str
) -> None:
    generated = generate_keys()
    settings = IdentifierSettings(
        identifier_keys=generated["IDENTIFIER_KEYS"] if keys_value == "generated" else keys_value,
        identifier_hmac_key=(
            generated["IDENTIFIER_HMAC_KEY"] if hmac_value == "generated" else hmac_value
        ),
    )
    with pytest.raises(ConfigurationError) as caught:
        IdentifierCipher.from_settings(settings)
    message = str(caught.value)
    assert f"{variable} is not set" in message
    assert "mmt keys generate" in message


BAD_FERNET_KEYS = [
    "correct-horse-battery-staple",  # not base64 of 32 bytes
    base64.urlsafe_b64encode(b"k" * 16).decode(),  # valid base64, wrong length
    "ключ-" + "a" * 40,  # not ASCII
]


@pytest.mark.parametrize("bad", BAD_FERNET_KEYS)
def test_malformed_fernet_key_names_the_variable_not_the_key(bad: str) -> None:
    good = _key()
    settings = IdentifierSettings(
        identifier_keys=f"{good},{bad}", identifier_hmac_key=generate_keys()["IDENTIFIER_HMAC_KEY"]
    )
    with pytest.raises(ConfigurationError) as caught:
        IdentifierCipher.from_settings(settings)
    message = str(caught.value)
    assert "IDENTIFIER_KEYS" in message
    assert "key 2 of 2" in message
    assert bad not in message
    assert good not in message
    assert "mmt keys generate" in message


@pytest.mark.parametrize(
    "bad",
    [
        base64.urlsafe_b64encode(secrets.token_bytes(16)).decode(),  # 16 bytes: too short
        base64.urlsafe_b64encode(secrets.token_bytes(31)).decode(),  # one byte short
        "not base64 at all!",
        "abcde",  # impossible length
    ],
)
def test_short_or_malformed_hmac_key_names_the_variable_not_the_key(bad: str) -> None:
    settings = IdentifierSettings(identifier_keys=_key(), identifier_hmac_key=bad)
    with pytest.raises(ConfigurationError) as caught:
        IdentifierCipher.from_settings(settings)
    message = str(caught.value)
    assert "IDENTIFIER_HMAC_KEY" in message
    assert bad not in message
    assert "mmt keys generate" in message


def test_constructor_rejects_no_keys_and_short_hmac_key() -> None:
    with pytest.raises(ConfigurationError, match="IDENTIFIER_KEYS"):
        IdentifierCipher([], _hmac_key())
    with pytest.raises(ConfigurationError, match=r"IDENTIFIER_HMAC_KEY.*at least 32 bytes"):
        IdentifierCipher([_key()], b"x" * 31)
    with pytest.raises(TypeError):
        IdentifierCipher(_key(), _hmac_key())


def test_generate_keys_are_fresh_and_valid() -> None:
    first, second = generate_keys(), generate_keys()
    assert set(first) == {"IDENTIFIER_KEYS", "IDENTIFIER_HMAC_KEY"}
    assert first != second
    assert len(base64.urlsafe_b64decode(first["IDENTIFIER_HMAC_KEY"])) == 32
    cipher = IdentifierCipher.from_settings(
        IdentifierSettings(
            identifier_keys=first["IDENTIFIER_KEYS"],
            identifier_hmac_key=first["IDENTIFIER_HMAC_KEY"],
        )
    )
    assert cipher.decrypt(cipher.encrypt(PHONE)) == PHONE


# --- the `keys` command line ---


def _env_lines(stdout: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in stdout.splitlines() if line]
    return {name: value for name, value in pairs}


def test_cli_has_help() -> None:
    for command in ([], ["generate"], ["check"]):
        result = runner.invoke(keys, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output
    assert "encrypt patient identifiers at rest" in runner.invoke(keys, ["--help"]).output


def test_cli_generate_prints_two_working_keys() -> None:
    result = runner.invoke(keys, ["generate"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("IDENTIFIER_KEYS=")
    assert lines[1].startswith("IDENTIFIER_HMAC_KEY=")
    env = _env_lines(result.stdout)
    cipher = IdentifierCipher.from_settings(
        IdentifierSettings(
            identifier_keys=env["IDENTIFIER_KEYS"],
            identifier_hmac_key=env["IDENTIFIER_HMAC_KEY"],
        )
    )
    assert cipher.key_count == 1
    assert cipher.decrypt(cipher.encrypt(PHONE)) == PHONE
    assert env["IDENTIFIER_KEYS"] not in result.stderr


def test_cli_generate_rotate_from_puts_the_new_key_first() -> None:
    old_one, old_two = _key(), _key()
    result = runner.invoke(keys, ["generate", "--rotate-from", f"{old_one}, {old_two}"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert "IDENTIFIER_HMAC_KEY" not in result.stdout
    listed = _env_lines(result.stdout)["IDENTIFIER_KEYS"].split(",")
    assert len(listed) == 3
    assert listed[1:] == [old_one, old_two]
    assert listed[0] not in (old_one, old_two)
    Fernet(listed[0])  # a valid key
    assert "re-encrypts" in result.stderr
    assert "drop the old keys" in result.stderr


def test_cli_generate_rotate_from_stdin() -> None:
    old = _key()
    result = runner.invoke(keys, ["generate", "--rotate-from", "-"], input=f"{old}\n")
    assert result.exit_code == 0, result.output
    listed = _env_lines(result.stdout)["IDENTIFIER_KEYS"].split(",")
    assert listed[1:] == [old]


def test_cli_generate_rotate_from_rejects_a_bad_key_without_echoing_it() -> None:
    bad = "not-a-fernet-key"
    result = runner.invoke(keys, ["generate", "--rotate-from", f"{_key()},{bad}"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "IDENTIFIER_KEYS" in result.stderr
    assert "key 2 of 2" in result.stderr
    assert bad not in result.output


def test_cli_check_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    generated = generate_keys()
    monkeypatch.setenv("IDENTIFIER_KEYS", f"{generated['IDENTIFIER_KEYS']},{_key()}")
    monkeypatch.setenv("IDENTIFIER_HMAC_KEY", generated["IDENTIFIER_HMAC_KEY"])
    result = runner.invoke(keys, ["check"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "identifier keys: ok (2 encryption key(s))"


@pytest.mark.usefixtures("no_key_env")
def test_cli_check_missing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(keys, ["check"])
    assert result.exit_code == 1
    assert "IDENTIFIER_KEYS is not set" in result.stderr
    assert "mmt keys generate" in result.stderr
    monkeypatch.setenv("IDENTIFIER_KEYS", _key())
    result = runner.invoke(keys, ["check"])
    assert result.exit_code == 1
    assert "IDENTIFIER_HMAC_KEY is not set" in result.stderr


@pytest.mark.usefixtures("no_key_env")
def test_cli_check_short_hmac_key(monkeypatch: pytest.MonkeyPatch) -> None:
    short = base64.urlsafe_b64encode(b"s" * 16).decode()
    monkeypatch.setenv("IDENTIFIER_KEYS", _key())
    monkeypatch.setenv("IDENTIFIER_HMAC_KEY", short)
    result = runner.invoke(keys, ["check"])
    assert result.exit_code == 1
    assert "IDENTIFIER_HMAC_KEY is too short" in result.stderr
    assert short not in result.output
