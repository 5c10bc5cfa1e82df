"""Exact order statistics of groups too large to hold in memory: radix selection in passes.

The median of a province's 100 million tests needs the tests at two ranks, not the
tests sorted. A float's bits, reordered (:func:`sortable`), sort as the float does; so
the value at rank ``r`` of a group is found digit by digit from the top: one pass over
the data counts the group's values by their top 16 bits, which tells the digit of the
value at rank ``r`` and its rank among the values with that digit; the next pass counts
those by their next 12 bits; and so on. A query stops as soon as the values left with
its digits are few (then the next pass collects and sorts them) or all 64 bits are known
(then they are the value itself: a run of equal values, however long, costs nothing).

Memory: one pass holds a batch of the data, a count per digit (4,096 to 65,536) of each
group or query, and the few values collected; never a group's values. Each pass reads
the data again: continuous speeds need three passes, values with long runs of ties up to
six. The result is the stored float, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Keys = npt.NDArray[np.uint64]

_FIRST_BITS: Final = 16  # the first pass counts by the top 16 bits ...
_NEXT_BITS: Final = 12  # ... each later one by 12 more
_SIGN: Final = np.uint64(1 << 63)
_GROUP_BITS: Final = 16  # group ids are below 2**16
_SORTABLE_SLICE: Final = 1 << 16  # values a step of sortable() (0.5 MB of keys)

#: A source of the data: called once per pass, it gives (group id, values) batches;
#: ids from 0 to groups - 1, and -1 for a value in no group. Nulls are left out by it.
Passes = Callable[[], Iterable[tuple[Ints, Floats]]]


def sortable(values: Floats) -> Keys:
    """Unsigned integers that sort as the floats do (negatives reversed, sign bit set).

    The bits of a negative float are all flipped, a positive one's sign bit only: each
    is XORed with its sign bit spread over the word, then the sign bit. Computed in the
    copy that is returned, a slice at a time: arrays of the size of a batch cost little
    more than the copy (no temporaries of the whole array to allocate and fault in).
    """
    keys = np.array(values, dtype=np.float64).view(np.uint64)
    flip = np.empty(min(len(keys), _SORTABLE_SLICE), dtype=np.uint64)
    for start in range(0, len(keys), _SORTABLE_SLICE):
        part = keys[start : start + _SORTABLE_SLICE]
        mask = flip[: len(part)]
        np.right_shift(part, np.uint64(63), out=mask)
        np.negative(mask, out=mask)  # all ones for a negative float, else zero
        np.bitwise_or(mask, _SIGN, out=mask)
        np.bitwise_xor(part, mask, out=part)
    return keys


def unsortable(keys: Keys) -> Floats:
    """The floats of :func:`sortable`'s keys."""
    positive = (keys & _SIGN) != 0
    bits = np.where(positive, keys & ~_SIGN, ~keys)
    return np.ascontiguousarray(bits, dtype=np.uint64).view(np.float64)


@dataclass
class _Query:
    group: int
    rank: int
    prefix: int = 0
    """The top ``depth`` bits of the key of the value at ``rank``, known so far."""
    left: int = 0
    """Its rank among the group's values with that prefix."""
    count: int = 0
    """The group's values with that prefix."""
    value: float | None = None


def select(passes: Passes, groups: int, ranks: list[tuple[int, int]], cap: int) -> list[float]:
    """The value at each ``(group, rank)`` (0-based, in ascending order) of the data.

    ``cap`` bounds the values collected in memory at once (besides each pass's batch).
    Every rank must be below its group's count of values.
    """
    if groups > 1 << _GROUP_BITS:
        raise ValueError(f"at most {1 << _GROUP_BITS} groups, not {groups}")
    queries = [_Query(g, r, left=r) for g, r in ranks]
    if not queries:
        return []
    depth, width = 0, _FIRST_BITS
    histogram = _counts(passes, groups, width)
    _descend(queries, histogram, {g: g for g in range(groups)}, width)
    depth += width
    while True:
        open_ = [q for q in queries if q.value is None]
        if not open_:
            break
        per_query = max(cap // len(open_), 1)
        collect = [q for q in open_ if q.count <= per_query]
        deeper = [q for q in open_ if q.count > per_query]
        width = min(_NEXT_BITS, 64 - depth)
        keys_h = sorted({_pair(q, depth) for q in deeper})
        keys_c = sorted({_pair(q, depth) for q in collect})
        counted, collected = _pass(passes, depth, width, np.array(keys_h, np.uint64), keys_c)
        for q in collect:
            values = np.sort(collected[keys_c.index(_pair(q, depth))])
            q.value = float(values[q.left])
        _descend(deeper, counted, {k: i for i, k in enumerate(keys_h)}, width, depth)
        depth += width
        for q in deeper:
            if depth == 64:  # every bit known: the key is the value
                q.value = float(unsortable(np.array([q.prefix], dtype=np.uint64))[0])
    return [q.value for q in queries if q.value is not None]


def _pair(q: _Query, depth: int) -> int:
    return (q.group << depth) | q.prefix if depth < 64 else q.group


def _counts(passes: Passes, groups: int, width: int) -> Ints:
    """Per group, the count of values by their top ``width`` bits: (groups, 2**width)."""
    size = 1 << width
    total = np.zeros(groups * size, dtype=np.int64)
    for group, values in passes():
        keep = group >= 0
        digit = (sortable(values[keep]) >> np.uint64(64 - width)).astype(np.int64)
        total += np.bincount(group[keep] * size + digit, minlength=groups * size)
    return total.reshape(groups, size)


def _pass(
    passes: Passes, depth: int, width: int, pairs: Keys, collect: list[int]
) -> tuple[Ints, list[Floats]]:
    """One pass: for ``pairs`` (group, prefix of ``depth`` bits), the count of values by
    their next ``width`` bits; for ``collect`` pairs, their values."""
    size = 1 << width
    counted = np.zeros(len(pairs) * size, dtype=np.int64)
    wanted = np.array(collect, dtype=np.uint64)
    found: list[list[Floats]] = [[] for _ in collect]
    for group, values in passes():
        keep = group >= 0
        key, group_k, kept = sortable(values[keep]), group[keep].astype(np.uint64), values[keep]
        pair = (group_k << np.uint64(depth)) | (key >> np.uint64(64 - depth))
        if len(pairs):
            at, hit = _lookup(pairs, pair)
            digit = ((key[hit] >> np.uint64(64 - depth - width)) & np.uint64(size - 1)).astype(
                np.int64
            )
            counted += np.bincount(at[hit] * size + digit, minlength=len(pairs) * size)
        if len(wanted):
            at, hit = _lookup(wanted, pair)
            order = np.argsort(at[hit], kind="stable")
            where, chosen = at[hit][order], kept[hit][order]
            bounds = np.searchsorted(where, np.arange(len(wanted) + 1))
            for i in range(len(wanted)):
                found[i].append(chosen[bounds[i] : bounds[i + 1]])
    collected = [np.concatenate(f) if f else np.empty(0) for f in found]
    return counted.reshape(len(pairs), size), collected


def _lookup(sorted_keys: Keys, keys: Keys) -> tuple[Ints, npt.NDArray[np.bool_]]:
    at = np.searchsorted(sorted_keys, keys).astype(np.int64)
    inside = at < len(sorted_keys)
    hit = np.zeros(len(keys), dtype=bool)
    hit[inside] = sorted_keys[at[inside]] == keys[inside]
    return at, hit


def _descend(
    queries: list[_Query],
    histogram: Ints,
    row_of: dict[Any, int],
    width: int,
    depth: int = 0,
) -> None:
    """Each query's next digit from its histogram row, its rank and count below it."""
    for q in queries:
        row = histogram[row_of[_pair(q, depth) if depth else q.group]]
        below = np.cumsum(row)
        digit = int(np.searchsorted(below, q.left, side="right"))
        q.left -= int(below[digit - 1]) if digit else 0
        q.count = int(row[digit])
        q.prefix = (q.prefix << width) | digit
