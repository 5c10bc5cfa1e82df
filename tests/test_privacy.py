"""Pseudonyms: the keyed hash of each trimmed identifier, whatever the lookup does."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from qostool import privacy

KEY = bytes(range(32))


def _expected(values: list[str | None]) -> list[str | None]:
    """Independently: BLAKE2b keyed with the secret, 8 bytes, of the trimmed text."""
    out: list[str | None] = []
    for value in values:
        text = (value or "").strip()
        digest = hashlib.blake2b(text.encode(), key=KEY, digest_size=8).hexdigest()
        out.append(digest if text else None)
    return out


VALUES: list[str | None] = ["dev-1", " dev-1 ", "dev-2", None, "", "   ", "thiết bị 3", "dev-2"]


def test_pseudonyms_are_keyed_hashes_of_trimmed_ids() -> None:
    pseudonymise = privacy.Pseudonymiser(KEY)
    first = pseudonymise(pl.Series("device", VALUES, dtype=pl.String))
    assert first.name == "device"
    assert first.to_list() == _expected(VALUES)
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
    assert privacy.pseudonym("aa", KEY) == _expected(["aa"])[0]
