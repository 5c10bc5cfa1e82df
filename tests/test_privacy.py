"""Pseudonyms: the keyed hash of each trimmed identifier, whatever the lookup does."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from qostool import privacy

KEY = bytes(range(32))


def _hex(values: list[str | None]) -> list[str | None]:
    """Independently: BLAKE2b keyed with the secret, 8 bytes, of the trimmed text, in hex."""
    out: list[str | None] = []
    for value in values:
        text = (value or "").strip()
        digest = hashlib.blake2b(text.encode(), key=KEY, digest_size=8).hexdigest()
        out.append(digest if text else None)
    return out


def _expected(values: list[str | None]) -> list[int | None]:
    """The same digests as stored: the signed 64-bit integer of the 8 bytes, big-endian."""
    out: list[int | None] = []
    for digest in _hex(values):
        if digest is None:
            out.append(None)
            continue
        unsigned = int(digest, 16)
        out.append(unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned)
    return out


VALUES: list[str | None] = ["dev-1", " dev-1 ", "dev-2", None, "", "   ", "thiết bị 3", "dev-2"]


def test_pseudonyms_are_keyed_hashes_of_trimmed_ids() -> None:
    pseudonymise = privacy.Pseudonymiser(KEY)
    first = pseudonymise(pl.Series("device", VALUES, dtype=pl.String))
    assert first.name == "device"
    assert first.dtype == pl.Int64
    assert first.to_list() == _expected(VALUES)
    assert any(n is not None and n < 0 for n in first.to_list())  # the sign bit is used
    # Known devices, then new ones among them, in later calls.
    later = ["dev-2", "dev-9", None, "dev-1", "dev-10"]
    assert pseudonymise(pl.Series(later, dtype=pl.String)).to_list() == _expected(later)


def test_values_sharing_a_lookup_bucket_keep_their_own_pseudonyms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 64-bit bucket may hold two values: the text is compared, never trusted."""
    # Every value of the same length in one bucket: collisions everywhere.
    monkeypatch.setattr(privacy, "_bucket", lambda raw: raw.str.len_bytes().cast(pl.UInt64))
    pseudonymise = privacy.Pseudonymiser(KEY)
    values: list[str | None] = ["aa", "bb", "cc", "aa", None, "dd", "bb", "eee"]
    assert pseudonymise(pl.Series(values, dtype=pl.String)).to_list() == _expected(values)
    again: list[str | None] = ["dd", "ff", "aa", "eee", "ggg"]
    assert pseudonymise(pl.Series(again, dtype=pl.String)).to_list() == _expected(again)
    assert privacy.pseudonym("aa", KEY) == _hex(["aa"])[0]


def test_the_text_of_a_pseudonym_is_the_same_64_bits_in_hex() -> None:
    """Rejected rows show pseudonyms as text: the stored integer's own bits."""
    pseudonymise = privacy.Pseudonymiser(KEY)
    assert pseudonymise.text(pl.Series(VALUES)).to_list() == _hex(VALUES)
    assert pseudonymise.unremembered(pl.Series(VALUES)).to_list() == _hex(VALUES)
    edges = pl.Series([0, -1, 1 << 62, -(1 << 63), None], dtype=pl.Int64)
    assert privacy.as_text(edges).to_list() == [
        "0" * 16,
        "f" * 16,
        "4" + "0" * 15,
        "8" + "0" * 15,
        None,
    ]


def test_pseudonyms_stored_as_text_become_the_same_integers() -> None:
    """Layout 1's 16 hex digits become the integer of the same bits; any other text is
    hashed with the store's key like a new identifier (and the key is asked for only then)."""
    hexed = _hex(VALUES)
    asked: list[int] = []

    def key() -> bytes:
        asked.append(1)
        return KEY

    converted = privacy.from_stored_text(pl.Series("device_id", hexed), key)
    assert converted.name == "device_id" and converted.dtype == pl.Int64
    assert converted.to_list() == _expected(VALUES)
    assert not asked
    old = ["0123456789abcdef0123456789abcdef", "dev-1", None, "0123456789ABCDEF", *hexed[:3]]
    mixed = privacy.from_stored_text(pl.Series(old, dtype=pl.String), key).to_list()
    assert asked
    assert mixed[:4] == [*_expected([old[0], old[1]]), None, _expected([old[3]])[0]]
    assert mixed[4:] == _expected(VALUES[:3])
