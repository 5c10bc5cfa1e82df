"""Reporting months (``YYYY-MM``) and quarters (``YYYY-Qn``): parsing and arithmetic."""

from __future__ import annotations

import re
from typing import Final

from qostool.errors import UsageError

_MONTH: Final = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> str:
    """Check a ``YYYY-MM`` month given by the user; return it as given."""
    if not _MONTH.match(text.strip()):
        raise UsageError(f"--month {text!r}: expected a month as YYYY-MM", hint="e.g. 2025-10")
    return text.strip()


def shift_month(month: str, delta: int) -> str:
    """The month ``delta`` months after (negative: before) ``month``."""
    year, mon = int(month[:4]), int(month[5:7])
    y, m = divmod(year * 12 + mon - 1 + delta, 12)
    return f"{y:04d}-{m + 1:02d}"


def quarter_of(month: str) -> str:
    """``2025-11`` -> ``2025-Q4``."""
    return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"


def quarter_start(month: str) -> str:
    """First month of the quarter holding ``month``: ``2025-11`` -> ``2025-10``."""
    first = (int(month[5:7]) - 1) // 3 * 3 + 1
    return f"{month[:4]}-{first:02d}"


def months_read(month: str, history: int) -> set[str]:
    """Months whose stored tests an analysis of ``month`` reads.

    The month, the ``history`` months before it (its trend and "last month"
    columns), and the first month of each one's quarter (where tiles are stored).
    """
    months = {shift_month(month, -back) for back in range(history + 1)}
    return months | {quarter_start(m) for m in months}
