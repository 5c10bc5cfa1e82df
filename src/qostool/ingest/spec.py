"""Source formats described as data: which columns feed which canonical field, in what unit.

A format spec is a TOML document. The built-in ones live in ``formats/``; a
user mapping file (``--mapping``) has the same shape::

    name = "my-export"           # optional, stored as the rows' source
    timezone = "local"           # zone of times without offset: "local", "UTC" or a tz name

    [fields]
    test_id = "Test ID"                                  # one column
    lat = ["Lat", "Latitude"]                            # first column present wins
    download_mbps = { column = "DL", unit = "kbps" }     # with a unit
    measured_at = { column = "Time", format = "%d/%m/%Y %H:%M:%S" }
    technology = { columns = ["RAT"], fallback = ["Network"] }   # fill gaps from another

Headers are matched case-, accent- and punctuation-insensitively.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Final

from qostool.errors import SpecError, UsageError
from qostool.ingest.normalize import SPEED_UNITS, TIME_UNITS, canonical_unit, fold
from qostool.schema import INPUT_FIELDS

SPEED_FIELDS: Final = frozenset({"download_mbps", "upload_mbps"})
TIME_FIELDS: Final = frozenset({"latency_ms", "jitter_ms"})
KINDS: Final = ("tests", "tiles")
REQUIRED_BY_KIND: Final[dict[str, tuple[str, ...]]] = {
    "tests": ("measured_at", "lat", "lon", "download_mbps"),
    "tiles": ("quadkey", "download_mbps", "tests"),
}
GENERIC: Final = "generic"


@dataclass(frozen=True)
class FieldSpec:
    """Where one canonical field comes from."""

    columns: tuple[str, ...]
    unit: str | None = None
    format: str | None = None
    timezone: str | None = None
    fallback: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormatSpec:
    """A source format: its fields, and how to read them."""

    name: str
    title: str
    fields: Mapping[str, FieldSpec]
    kind: str = "tests"
    timezone: str = "local"
    origin: str = "built-in"

    def bind(self, header: Sequence[str]) -> BoundSpec:
        """Resolve each field to the first of its columns present in ``header``."""
        by_key: dict[str, str] = {}
        for column in header:
            by_key.setdefault(fold(column), column)
        columns: dict[str, str] = {}
        fallbacks: dict[str, str] = {}
        for name, spec in self.fields.items():
            found = next((by_key[fold(c)] for c in spec.columns if fold(c) in by_key), None)
            if found is not None:
                columns[name] = found
            back = next((by_key[fold(c)] for c in spec.fallback if fold(c) in by_key), None)
            if back is not None:
                fallbacks[name] = back
        return BoundSpec(self, columns, fallbacks)

    @property
    def required(self) -> tuple[str, ...]:
        return REQUIRED_BY_KIND[self.kind]

    @property
    def unmapped(self) -> list[str]:
        """Required fields for which the spec names no column."""
        return [name for name in self.required if name not in self.fields]


@dataclass(frozen=True)
class BoundSpec:
    """A format bound to one file's header: field -> actual column name."""

    spec: FormatSpec
    columns: Mapping[str, str]
    fallbacks: Mapping[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [name for name in self.spec.required if name not in self.columns]

    def factor(self, name: str) -> float:
        """Multiplier from this field's unit to the canonical unit."""
        unit = self.spec.fields[name].unit if name in self.spec.fields else None
        if unit is None:
            return 1.0
        unit = canonical_unit(unit)
        return SPEED_UNITS[unit] if name in SPEED_FIELDS else TIME_UNITS[unit]


# -- loading -----------------------------------------------------------------------


def builtin_names() -> list[str]:
    """Names of the built-in formats, plus ``generic``."""
    folder = resources.files("qostool.ingest") / "formats"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def builtin(name: str) -> FormatSpec:
    """A built-in format by name."""
    if name not in builtin_names():
        raise UsageError(
            f"unknown format {name!r}",
            hint=f"use one of: {', '.join([*builtin_names(), GENERIC])}",
        )
    text = (resources.files("qostool.ingest") / "formats" / f"{name}.toml").read_text("utf-8")
    return parse_spec(tomllib.loads(text), origin=f"built-in format {name!r}")


def load_mapping(path: Path) -> FormatSpec:
    """A user mapping file (same shape as the built-in formats)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: mapping file not found") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: not a valid TOML file ({exc})") from None
    data.setdefault("name", GENERIC)
    return parse_spec(data, origin=str(path))


def parse_spec(data: Mapping[str, Any], *, origin: str) -> FormatSpec:
    """Validate a spec document, with errors naming the file and the key."""
    known = {"name", "title", "kind", "timezone", "fields"}
    for key in data:
        if key not in known:
            raise SpecError(f"{origin}: unknown key {key!r}", hint=f"known keys: {sorted(known)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{origin}: 'name' must be a non-empty text")
    kind = data.get("kind", "tests")
    if kind not in KINDS:
        raise SpecError(f"{origin}: kind = {kind!r} is not one of {list(KINDS)}")
    timezone = data.get("timezone", "local")
    if not isinstance(timezone, str):
        raise SpecError(f"{origin}: 'timezone' must be a text such as \"UTC\"")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, Mapping) or not raw_fields:
        raise SpecError(
            f"{origin}: a [fields] table is needed",
            hint='e.g. [fields]\\ndownload_mbps = { column = "DL", unit = "kbps" }',
        )
    fields = {str(key): _parse_field(str(key), value, origin) for key, value in raw_fields.items()}
    spec = FormatSpec(
        name=name.strip(),
        title=str(data.get("title", name)),
        fields=fields,
        kind=kind,
        timezone=timezone,
        origin=origin,
    )
    if spec.unmapped:
        raise SpecError(
            f"{origin}: no column given for required field(s) {', '.join(spec.unmapped)}",
            hint="add them under [fields]",
        )
    return spec


def _columns(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise SpecError(f"{where} must be a column name or a list of column names")


def _parse_field(name: str, value: Any, origin: str) -> FieldSpec:
    where = f"{origin}: fields.{name}"
    if name not in INPUT_FIELDS:
        raise SpecError(
            f"{where}: {name!r} is not a field qostool knows",
            hint=f"fields: {', '.join(INPUT_FIELDS)}",
        )
    if not isinstance(value, Mapping):
        return FieldSpec(columns=_columns(value, where))
    allowed = {"column", "columns", "unit", "format", "timezone", "fallback"}
    for key in value:
        if key not in allowed:
            raise SpecError(f"{where}.{key}: unknown key", hint=f"known keys: {sorted(allowed)}")
    if ("column" in value) == ("columns" in value):
        raise SpecError(f"{where}: give exactly one of 'column' or 'columns'")
    columns = _columns(value.get("column", value.get("columns")), where)
    unit = value.get("unit")
    if unit is not None:
        _check_unit(name, unit, f"{where}.unit")
    fallback = _columns(value["fallback"], f"{where}.fallback") if "fallback" in value else ()
    return FieldSpec(
        columns=columns,
        unit=unit,
        format=value.get("format"),
        timezone=value.get("timezone"),
        fallback=fallback,
    )


def _check_unit(name: str, unit: Any, where: str) -> None:
    if name in SPEED_FIELDS:
        allowed = SPEED_UNITS
    elif name in TIME_FIELDS:
        allowed = TIME_UNITS
    else:
        raise SpecError(f"{where}: field {name!r} takes no unit")
    if not isinstance(unit, str) or canonical_unit(unit) not in allowed:
        raise SpecError(
            f"{where}: {unit!r} is not a unit for {name}",
            hint=f"use one of: {', '.join(allowed)}",
        )


def from_options(
    base: FormatSpec | None, maps: Sequence[str], units: Sequence[str]
) -> FormatSpec | None:
    """Apply ``--map field=Column`` and ``--unit field=unit`` options on top of ``base``."""
    if not maps and not units:
        return base
    fields = dict(base.fields) if base else {}
    for item in maps:
        name, column = _split_option("--map", item)
        parsed = _parse_field(name, column, "--map")
        old = fields.get(name)
        fields[name] = replace(old, columns=parsed.columns) if old else parsed
    for item in units:
        name, unit = _split_option("--unit", item)
        _check_unit(name, unit, f"--unit {item}")
        if name not in fields:
            raise UsageError(f"--unit {item}: field {name!r} has no column", hint="add --map first")
        fields[name] = replace(fields[name], unit=unit)
    if base is None:
        base = FormatSpec(
            name=GENERIC, title="column map from options", fields={}, origin="--map options"
        )
    spec = replace(base, fields=fields)
    if spec.unmapped:
        raise UsageError(
            f"no column given for required field(s) {', '.join(spec.unmapped)}",
            hint="add e.g. --map download_mbps=DL --map lat=Latitude",
        )
    return spec


def _split_option(option: str, item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UsageError(f"{option} {item!r}: expected field=value, e.g. {option} lat=Latitude")
    return name.strip(), value.strip()


def detect(header: Sequence[str]) -> BoundSpec | None:
    """The built-in format that explains this header best, or None.

    A format qualifies when all its required fields are found; among those,
    the one that maps the most columns wins. A tie is reported as None.
    """
    candidates = []
    for name in builtin_names():
        bound = builtin(name).bind(header)
        if not bound.missing:
            candidates.append((len(bound.columns), name, bound))
    if not candidates:
        return None
    candidates.sort(key=lambda c: (-c[0], c[1]))
    if len(candidates) > 1 and candidates[0][0] == candidates[1][0]:
        return None
    return candidates[0][2]
