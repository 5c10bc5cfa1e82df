"""Pseudonymisation of device identifiers with a keyed hash.

A raw identifier (IMEI, advertising id, app install id...) never reaches the
store: it is replaced by ``BLAKE2b(key=store secret, raw)``, so the same device
gets the same pseudonym in every file of a store, and nobody without the
store's ``secret.key`` can test a guessed identifier against it.

The digest is 8 bytes (64 bits), stored as the signed 64-bit integer those bytes
make (big-endian, two's complement): the analysis counts and groups devices on
integers, and an integer column is half the size of its 16 hex digits on disk and
in memory. Rejected rows, whose original values are kept as text, show the same
64 bits as 16 hex digits (:func:`as_text`). How likely two devices are to share a
pseudonym, at national scale, is in docs/methodology.md (Devices).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Final

import polars as pl

_DIGEST_BYTES: Final = 8  # 64 bits: see docs/methodology.md for the collision odds
_MASK: Final = (1 << 64) - 1
#: A pseudonym as qostool stored it before it stored integers (store layout 1).
_HEX_PSEUDONYM: Final = r"^[0-9a-f]{16}$"


def _bucket(raw: pl.Expr) -> pl.Expr:
    """A fast 64-bit hash of the values, to look them up by: not the pseudonym."""
    return raw.hash(seed=0)


def _digests(raws: list[str], key: bytes) -> list[bytes]:
    """Keyed BLAKE2b digests of (trimmed, non-empty) identifiers."""
    keyed = hashlib.blake2b(key=key, digest_size=_DIGEST_BYTES)
    out = []
    for raw in raws:  # a copy of the keyed state: cheaper than keying a new hash each time
        one = keyed.copy()
        one.update(raw.encode())
        out.append(one.digest())
    return out


def pseudonym_numbers(raws: list[str], key: bytes) -> list[int]:
    """The pseudonyms of (trimmed, non-empty) identifiers, as stored: signed 64-bit integers."""
    return [int.from_bytes(d, "big", signed=True) for d in _digests(raws, key)]


def pseudonyms(raws: list[str], key: bytes) -> list[str]:
    """The pseudonyms of (trimmed, non-empty) identifiers as text: 16 hex digits."""
    return [d.hex() for d in _digests(raws, key)]


def pseudonym(raw: str, key: bytes) -> str:
    """The pseudonym of one (trimmed, non-empty) identifier, as text."""
    return pseudonyms([raw], key)[0]


def as_text(numbers: pl.Series) -> pl.Series:
    """Stored pseudonyms (64-bit integers) as the 16 hex digits of the same 64 bits."""
    distinct = numbers.drop_nulls().unique()
    texts = pl.Series([format(n & _MASK, "016x") for n in distinct.to_list()], dtype=pl.String)
    return numbers.replace_strict(distinct, texts, default=None, return_dtype=pl.String)


def from_stored_text(values: pl.Series, key: Callable[[], bytes]) -> pl.Series:
    """Pseudonyms stored as text (store layout 1) as the integers stored now.

    A pseudonym qostool wrote as 16 hex digits becomes the integer of the same 64
    bits, so a device keeps its identity and every count of distinct devices stays
    what it was. Any other text (the 32 hex digits of qostool's first versions, or
    a value not written by qostool) is hashed with the store's ``key`` like a new
    identifier: distinct texts stay distinct but for the odds of a collision that
    every pseudonym has. ``key`` is called only when such a text is there.
    """
    text = values.cast(pl.String)
    hexed = text.str.contains(_HEX_PSEUDONYM).fill_null(False)
    out = (
        text.str.to_integer(base=16, dtype=pl.UInt64, strict=False)
        .reinterpret(signed=True)
        .alias(values.name)
    )
    other = text.is_not_null() & ~hexed
    if other.any():
        distinct = text.filter(other).unique()
        hashed = pl.Series(pseudonym_numbers(distinct.to_list(), key()), dtype=pl.Int64)
        rehashed = text.replace_strict(distinct, hashed, default=None, return_dtype=pl.Int64)
        out = pl.select(pl.when(hexed).then(out).otherwise(rehashed)).to_series()
    return out.alias(values.name)


class Pseudonymiser:
    """Keyed hashing of identifiers, each distinct value hashed once per run.

    Values already seen are looked up by a fast 64-bit hash of their text
    (joining on integers is several times cheaper than on strings), and the text
    is then compared, so two values sharing a bucket never share a pseudonym:
    those are hashed one by one.
    """

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._known = pl.DataFrame(
            schema={"bucket": pl.UInt64, "known": pl.String, "pseudonym": pl.Int64}
        )
        self._lock = threading.Lock()

    def __call__(self, values: pl.Series) -> pl.Series:
        """Replace each non-empty value by its pseudonym (a 64-bit integer). Thread-safe."""
        text = values.cast(pl.String).str.strip_chars()
        frame = pl.select(raw=pl.when(text.str.len_bytes() > 0).then(text))
        frame = frame.with_columns(bucket=_bucket(pl.col("raw")))
        with self._lock:
            known = self._known
        joined = frame.join(known, on="bucket", how="left", maintain_order="left")
        unknown = joined.filter(pl.col("known").is_null() & pl.col("raw").is_not_null())
        if unknown.height:  # only devices not seen before in this run are hashed
            with self._lock:
                self._learn(unknown.select("raw", "bucket").unique("raw"))
                known = self._known
            joined = frame.join(known, on="bucket", how="left", maintain_order="left")
        result = joined["pseudonym"]
        shared = (joined["raw"] != joined["known"]).fill_null(False).arg_true()
        if shared.len():  # another value holds this bucket
            own = pseudonym_numbers(joined["raw"].gather(shared).to_list(), self.key)
            result = result.scatter(shared, pl.Series(own, dtype=pl.Int64))
        return (
            pl.select(pl.when(frame["raw"].is_not_null()).then(result))
            .to_series()
            .alias(values.name)
        )

    def text(self, values: pl.Series) -> pl.Series:
        """As calling it, the pseudonyms as text (16 hex digits): for a rejected row's values."""
        return as_text(self(values))

    def unremembered(self, values: pl.Series) -> pl.Series:
        """As :meth:`text`, but no value is remembered: for values that are seldom identifiers.

        The values of a ragged row are pseudonymised in case one is a device id
        shifted out of its column; remembered, millions of such rows (test ids,
        times) would make the memory of a run grow with them.
        """
        text = values.cast(pl.String).str.strip_chars()
        raw = pl.select(pl.when(text.str.len_bytes() > 0).then(text)).to_series()
        present = raw.is_not_null().arg_true()
        hashed = pseudonyms(raw.gather(present).to_list(), self.key)
        result = pl.Series(values.name, [None] * raw.len(), dtype=pl.String)
        return result.scatter(present, pl.Series(hashed, dtype=pl.String))

    def _learn(self, distinct: pl.DataFrame) -> None:
        """Add the pseudonyms of values not known yet (one value per bucket)."""
        new = distinct.join(self._known, on="bucket", how="anti").unique("bucket", keep="first")
        if new.height:
            raws = new["raw"].to_list()
            learned = pl.DataFrame(
                {
                    "bucket": new["bucket"],
                    "known": raws,
                    "pseudonym": pseudonym_numbers(raws, self.key),
                },
                schema=self._known.schema,
            )
            self._known = pl.concat([self._known, learned], rechunk=True)
