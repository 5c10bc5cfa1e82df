"""The administrative document around the figures: who issues the report, its number,
place and date, whom it is addressed to, who signs it and who receives copies.

These are not data but the signer's settings (``[report]`` of ``qostool.toml`` and
the options of ``qostool report``): :class:`DocumentSettings` holds them as given,
``None`` where nothing was given. :func:`resolve_document` turns them into the
words of one report language, filling every missing setting with a default that
can be sent as is: the parent body from the boundaries' province name (with
``THÀNH PHỐ`` for the six centrally-run cities, which are not provinces), the
Department of Science and Technology as the issuer, the People's Committee and
the Telecommunications Authority as addressees, a blank number and a blank date
to be filled in by hand when the document is signed. What the tool cannot know
is a marked placeholder in the report: the basis documents of the opening (the
directive and the Ministry's letter, their numbers to check) and next month's
tasks.

A date is never taken from the machine's clock: a report rendered in December
for October must not carry a December date its director never signed.
"""

from __future__ import annotations

import calendar
import unicodedata
from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from qostool.report.context import DocumentInfo
    from qostool.report.i18n import Formatter

#: The symbol after the number, ``Số: 125/BC-SKHCN`` (a report, ``BC``, of the
#: Department of Science and Technology, ``SKHCN``).
DEFAULT_SYMBOL: Final = "BC-SKHCN"
#: The centrally-run cities (thành phố trực thuộc trung ương), written without tone
#: marks: their people's committee is ``UBND THÀNH PHỐ ...``, never ``UBND TỈNH ...``.
CENTRAL_CITIES: Final = frozenset(
    {"ha noi", "ho chi minh", "hai phong", "da nang", "can tho", "hue"}
)
#: Words a boundary file may put before the name itself ("Thành phố Hà Nội").
_PREFIXES: Final = ("thanh pho ", "tp. ", "tp ", "tinh ")


@dataclass(frozen=True)
class DocumentSettings:
    """The document's settings as given (``[report]`` keys, report options); None: default."""

    parent: str | None = None
    issuer: str | None = None
    number: str | None = None
    symbol: str = DEFAULT_SYMBOL
    place: str | None = None
    date: str | None = None
    """ISO date of the date line; None: blank, signed by hand (or ``--generated-at``'s day)."""
    signer_title: tuple[str, ...] | None = None
    signer_name: str | None = None
    recipients: tuple[str, ...] | None = None
    basis: tuple[str, ...] = ()
    next_tasks: tuple[str, ...] | None = None
    copies_to: tuple[str, ...] | None = None
    drafting_unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``qostool run`` records it, to render again when it changes)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _plain(text: str) -> str:
    """Lower case without tone marks, ``đ`` as ``d``: how names are compared."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def bare_name(province: str) -> str:
    """The name without ``Tỉnh``/``Thành phố``/``TP.`` in front: ``Thành phố Huế`` -> ``Huế``."""
    name = " ".join(province.split())
    plain = _plain(name)
    for prefix in _PREFIXES:
        if plain.startswith(prefix) and len(plain) > len(prefix):
            return " ".join(name.split()[len(prefix.split()) :])
    return name


def is_central_city(province: str) -> bool:
    """Whether the name is one of the six centrally-run cities (with or without tone marks)."""
    plain = _plain(bare_name(province))
    return plain in CENTRAL_CITIES or plain in {"tp ho chi minh", "thanh pho ho chi minh"}


def month_bounds(month: str) -> tuple[str, str]:
    """The first and the last day of ``YYYY-MM`` (the data period the report states),
    or of a period of days given by its key ``FROM_TO``."""
    if "_" in month:
        start, _, end = month.partition("_")
        return start, end
    year, mon = int(month[:4]), int(month[5:7])
    last = calendar.monthrange(year, mon)[1]
    return date(year, mon, 1).isoformat(), date(year, mon, last).isoformat()


def resolve_document(
    settings: DocumentSettings,
    *,
    province_name: str,
    month: str,
    fmt: Formatter,
    generated_day: str | None = None,
) -> DocumentInfo:
    """The settings in the words of ``fmt``'s language, every missing one defaulted.

    ``generated_day`` is the day of ``--generated-at`` when it was given: the date
    line then shows it, unless the ``date`` setting says otherwise. Values given
    in the settings are printed as given, in every language (names of bodies,
    documents and people are not translated).
    """
    from qostool.report.context import DocumentInfo
    from qostool.report.i18n import BLANK

    labels = fmt.labels
    name = bare_name(province_name) or fmt.no_data
    city = is_central_city(province_name)
    kind = "city" if city else "province"
    area = fmt.fill(labels[f"doc_area_{kind}"], name=name)
    issuer = settings.issuer or labels["doc_issuer"]
    first, last = month_bounds(month)
    archive = labels["doc_archive"] + (
        f", {settings.drafting_unit}" if settings.drafting_unit else ""
    )
    copies = settings.copies_to if settings.copies_to is not None else (labels["doc_as_above"],)
    basis = list(settings.basis)
    # Without basis documents the opening still cites them, as a marked placeholder: the
    # directive and the Ministry's letter every such report answers, numbers to check.
    cited = "; ".join(basis) if basis else fmt.fill(labels["doc_basis_default"], area=area)
    opening = fmt.fill(
        labels["doc_opening"],
        basis=cited,
        issuer=issuer,
        area=area,
        start=fmt.day(first),
        end=fmt.day(last),
    )
    number = settings.number or BLANK
    day = settings.date or generated_day
    annex_line = fmt.fill(
        labels["doc_annex_line"],
        number=number,
        symbol=settings.symbol,
        date=fmt.day(day) if day else BLANK,
        issuer=issuer,
    )
    return DocumentInfo(
        parent=(settings.parent or fmt.fill(labels[f"doc_parent_{kind}"], name=name)).upper(),
        issuer=issuer,
        number=number,
        symbol=settings.symbol,
        place=settings.place or name,
        date=day,
        city=city,
        area=area,
        period_start=first,
        period_end=last,
        recipients=list(
            settings.recipients
            or (fmt.fill(labels[f"doc_committee_{kind}"], name=name), labels["doc_authority"])
        ),
        basis=basis,
        opening=opening,
        basis_given=bool(basis),
        next_tasks=list(settings.next_tasks or ()),
        annex_line=annex_line,
        signer_title=list(settings.signer_title or (labels["doc_signer"],)),
        signer_name=settings.signer_name or "",
        copies_to=[*copies, archive],
    )
