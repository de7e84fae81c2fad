"""Patient identifiers (phone numbers, WeChat openids) encrypted at rest, found by keyed hash.

A row stores two columns per identifier:

- the value encrypted with Fernet (AES-128-CBC plus HMAC-SHA256, a fresh IV each time), so the
  same number never gives the same ciphertext twice; `IDENTIFIER_KEYS` holds the Fernet keys;
- `lookup_hash`: HMAC-SHA256 of the normalised value under `IDENTIFIER_HMAC_KEY`, for equality
  look-ups ("which patient has this number?") without decrypting every row.

A database dump alone therefore reveals neither the identifiers nor, without the HMAC key, a
way to test guesses against the hashes. (A Fernet token does carry, readable, the time it was
made.)

Rotating the encryption key: put a new key first in `IDENTIFIER_KEYS` (`mmt keys generate
--rotate-from "$IDENTIFIER_KEYS"` prints the line) and restart everything; the first key
encrypts and every listed key decrypts, so nothing breaks. Then the service that owns the
identifiers re-encrypts them (`IdentifierCipher.rotate`, for rows where `needs_rotation`), and
only after that are the old keys dropped from the end of the list.

Rotating the HMAC key: every look-up hash changes, so it cannot be done key by key. Set the new
`IDENTIFIER_HMAC_KEY`, and the service that owns the identifiers re-hashes them: decrypts each
value and stores `lookup_hash` of it under the new key. Look-ups miss until that has finished.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

KEYS_ENV = "IDENTIFIER_KEYS"
HMAC_KEY_ENV = "IDENTIFIER_HMAC_KEY"
HMAC_KEY_MIN_BYTES = 32

_MAKE_ONE = "make new keys with `mmt keys generate`"


class ConfigurationError(ValueError):
    """The identifier keys are missing or malformed; the message names the variable."""


class InvalidIdentifier(ValueError):
    """A stored identifier no configured key can decrypt (another key made it, or it is damaged).

    The message never contains the token or the value.
    """


class IdentifierSettings(BaseSettings):
    """Keys that encrypt patient identifiers at rest and key their look-up hashes."""

    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    identifier_keys: str | None = Field(
        default=None,
        repr=False,
        description=(
            "Comma-separated Fernet keys, newest first: the first encrypts, all of them decrypt. "
            "To rotate, put a new key first, let the owning service re-encrypt, then drop the "
            "old key. `mmt keys generate` makes one."
        ),
    )
    identifier_hmac_key: str | None = Field(
        default=None,
        repr=False,
        description=(
            "URL-safe base64 of at least 32 random bytes; keys the HMAC-SHA256 look-up hash of "
            "each identifier. Changing it means re-hashing every identifier. "
            "`mmt keys generate` makes one."
        ),
    )


def split_keys(value: str) -> list[str]:
    """The keys in a comma-separated `IDENTIFIER_KEYS` value, blanks dropped, order kept."""
    return [part.strip() for part in value.split(",") if part.strip()]


def decode_hmac_key(value: str) -> bytes:
    """Decode `IDENTIFIER_HMAC_KEY` (URL-safe base64, padding optional)."""
    text = value.strip()
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise ConfigurationError(f"{HMAC_KEY_ENV} is not URL-safe base64; {_MAKE_ONE}") from None


class IdentifierCipher:
    """Encrypts, decrypts and hashes patient identifiers with the configured keys."""

    def __init__(self, fernet_keys: Sequence[str | bytes], hmac_key: bytes) -> None:
        """`fernet_keys` newest first (the first encrypts); `hmac_key` the decoded HMAC key."""
        if isinstance(fernet_keys, str | bytes):
            raise TypeError("fernet_keys must be a sequence of keys, not one string")
        if not fernet_keys:
            raise ConfigurationError(f"{KEYS_ENV} holds no key; {_MAKE_ONE}")
        fernets: list[Fernet] = []
        for number, key in enumerate(fernet_keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # `from None`: the underlying error must not carry the key into a traceback.
                raise ConfigurationError(
                    f"{KEYS_ENV}: key {number} of {len(fernet_keys)} is not a valid Fernet key "
                    f"(32 bytes, URL-safe base64); {_MAKE_ONE}"
                ) from None
        if len(hmac_key) < HMAC_KEY_MIN_BYTES:
            raise ConfigurationError(
                f"{HMAC_KEY_ENV} is too short: it must decode to at least {HMAC_KEY_MIN_BYTES} "
                f"bytes, this one has {len(hmac_key)}; {_MAKE_ONE}"
            )
        self._newest = fernets[0]
        self._fernet = MultiFernet(fernets)
        self._hmac_key = bytes(hmac_key)
        self._key_count = len(fernets)

    @classmethod
    def from_settings(cls, settings: IdentifierSettings) -> IdentifierCipher:
        """Build from the environment's keys; `ConfigurationError` says what to fix."""
        keys = split_keys(settings.identifier_keys or "")
        if not keys:
            raise ConfigurationError(
                f"{KEYS_ENV} is not set: it holds the keys that encrypt patient phone numbers and "
                f"openids; {_MAKE_ONE} and put its lines in the environment"
            )
        hmac_text = (settings.identifier_hmac_key or "").strip()
        if not hmac_text:
            raise ConfigurationError(
                f"{HMAC_KEY_ENV} is not set: it keys the look-up hash of patient identifiers; "
                f"{_MAKE_ONE} and put its lines in the environment"
            )
        return cls(keys, decode_hmac_key(hmac_text))

    @property
    def key_count(self) -> int:
        """How many encryption keys are configured (the first encrypts, all decrypt)."""
        return self._key_count

    def encrypt(self, value: str) -> str:
        """A Fernet token for `value` under the newest key; different every call."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The value in `token`; `InvalidIdentifier` when no configured key can decrypt it."""
        try:
            plaintext: str | None = self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            plaintext = None
        if plaintext is None:
            # Raised outside the handler so no chained exception carries the token.
            raise _invalid()
        return plaintext

    def lookup_hash(self, value: str) -> str:
        """HMAC-SHA256 (hex) of `value` with surrounding whitespace stripped.

        Only that normalisation happens here: the caller brings phone numbers to E.164
        (e.g. +8613800138000) first, so one number always gives one hash.
        """
        digest = hmac.new(self._hmac_key, value.strip().encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()

    def pseudonym(self, value: str, purpose: str) -> str:
        """A stable stand-in for `value` that only this installation can compute: HMAC with
        a key derived from the look-up key for `purpose`, so a pseudonym is never equal to
        a look-up hash (researchers holding both could not join them), and one purpose's
        pseudonyms do not match another's. 16 hex characters: 64 bits, ample for 10^6 ids."""
        derived = hmac.new(self._hmac_key, f"pseudonym:{purpose}".encode(), hashlib.sha256)
        digest = hmac.new(derived.digest(), value.encode("utf-8"), hashlib.sha256)
        return digest.hexdigest()[:16]

    def rotate(self, token: str) -> str:
        """`token` re-encrypted under the newest key (its original timestamp is kept)."""
        try:
            rotated: str | None = self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            rotated = None
        if rotated is None:
            raise _invalid()
        return rotated

    def needs_rotation(self, token: str) -> bool:
        """True when only an older key decrypts `token`; `InvalidIdentifier` when none does."""
        try:
            data = token.encode("ascii")
        except UnicodeError:
            data = None
        if data is None:
            raise _invalid()
        try:
            self._newest.decrypt(data)
        except InvalidToken:
            pass
        else:
            return False
        self.decrypt(token)  # raises InvalidIdentifier when no key can
        return True


def _invalid() -> InvalidIdentifier:
    return InvalidIdentifier(
        f"a stored identifier could not be decrypted with any key in {KEYS_ENV}: it was "
        "encrypted under a key no longer listed, or it is damaged"
    )


def generate_keys() -> dict[str, str]:
    """A new Fernet key and a new HMAC key, as environment variable name -> value."""
    return {
        KEYS_ENV: Fernet.generate_key().decode("ascii"),
        HMAC_KEY_ENV: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii"),
    }
