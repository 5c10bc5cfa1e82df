"""Short column headers of the Word document, used where the full ones cannot fit the page.

A Word table has fixed column widths: ``scripts/make_docx_template.py`` sizes
every column so that the longest word of its header fits, and when a table's
headers cannot all fit the text width it heads the columns that save the most
with these shorter words instead (``{{ SL.c_p10 }}`` for ``{{ L.c_p10 }}``),
with a key line under the table that spells each one out. A key line names only
the headers whose short form differs from the full one in the report's
language: a language whose full header is short enough has no short form here,
and ``SL`` gives it the full label. Templates see these labels as ``SL``; every key
but ``key`` (the key line's first word) is a label of ``report/i18n.py`` (a test
checks it).
"""

from __future__ import annotations

from typing import Final

SHORT_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "key": "Ghi chú",
        "c_p10": "P10 (Mbps)",
        "c_p90": "P90 (Mbps)",
    },
    "en": {
        "key": "Key",
        "c_technology": "Tech.",
        "c_p10": "P10 (Mbps)",
        "c_p90": "P90 (Mbps)",
        "c_interval": "CI (Mbps)",
        "c_change": "Δ (Mbps)",
        "c_verdict_4g": "4G",
    },
}


def short_labels(lang: str, labels: dict[str, str]) -> dict[str, str]:
    """Every short header in ``lang``: its own short form, else the full label (``labels``)."""
    keys = {key for table in SHORT_LABELS.values() for key in table}
    return {key: SHORT_LABELS[lang].get(key, labels.get(key, "")) for key in sorted(keys)}
