"""Pseudonymisation of device identifiers with a keyed hash.

A raw identifier (IMEI, advertising id, app install id...) never reaches the
store: it is replaced by ``BLAKE2b(key=store secret, raw)``, so the same device
gets the same pseudonym in every file of a store, and nobody without the
store's ``secret.key`` can test a guessed identifier against it.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Final

import polars as pl

_DIGEST_BYTES: Final = 8  # 64 bits: collisions need ~4 billion devices


def _bucket(raw: pl.Expr) -> pl.Expr:
    """A fast 64-bit hash of the values, to look them up by: not the pseudonym."""
    return raw.hash(seed=0)


def pseudonyms(raws: list[str], key: bytes) -> list[str]:
    """The pseudonyms of (trimmed, non-empty) identifiers: keyed BLAKE2b, in hex."""
    keyed = hashlib.blake2b(key=key, digest_size=_DIGEST_BYTES)
    out = []
    for raw in raws:  # a copy of the keyed state: cheaper than keying a new hash each time
        one = keyed.copy()
        one.update(raw.encode())
        out.append(one.hexdigest())
    return out


def pseudonym(raw: str, key: bytes) -> str:
    """The pseudonym of one (trimmed, non-empty) identifier."""
    return pseudonyms([raw], key)[0]


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
            schema={"bucket": pl.UInt64, "known": pl.String, "pseudonym": pl.String}
        )
        self._lock = threading.Lock()

    def __call__(self, values: pl.Series) -> pl.Series:
        """Replace each non-empty value by its pseudonym (16 hex characters). Thread-safe."""
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
            own = pseudonyms(joined["raw"].gather(shared).to_list(), self.key)
            result = result.scatter(shared, pl.Series(own, dtype=pl.String))
        return (
            pl.select(pl.when(frame["raw"].is_not_null()).then(result))
            .to_series()
            .alias(values.name)
        )

    def unremembered(self, values: pl.Series) -> pl.Series:
        """As calling it, but no value is remembered: for values that are seldom identifiers.

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
                {"bucket": new["bucket"], "known": raws, "pseudonym": pseudonyms(raws, self.key)},
                schema=self._known.schema,
            )
            self._known = pl.concat([self._known, learned], rechunk=True)
