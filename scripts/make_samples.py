"""Regenerate the synthetic sample data in ``data/samples/``, byte for byte.

Everything in ``data/samples/`` is written by this script and is never edited by
hand. Run ``python scripts/make_samples.py --out data/samples``. The output is
identical on every run: every random stream has a fixed seed, floats are rounded
to a fixed number of decimals, JSON keys are sorted, no wall-clock time is used
and the Parquet file is written without column statistics.

What is generated, and why:

* ``province.geojson``: a fictional province, "Sơn Lâm" (code 99), in north-west
  Vietnam. It has 30 communes on a jittered 6x5 grid. Shared borders use exactly
  the same vertices on both sides, so spatial joins, adjacency and maps can be
  tested on it.
* ``ispeed_2025-09.csv`` and ``ispeed_2025-10.csv``: per-test exports from the
  fictional "i-Speed" app in Vietnamese Excel style: BOM, ``;`` delimiter,
  decimal comma, local ``dd/mm/yyyy`` times and operator names that are not
  written consistently.
* ``rtr_2025-10.csv`` and ``rtr_2025-11.csv``: exports in the style of the
  RTR-NetTest open data: UTC times and speeds in kbit/s. The November export
  repeats some rows of the October one, as overlapping real exports do.
* ``ispeed_2025-11.csv``: a partial i-Speed export of 1-8 November, asked for after a
  storm crossed the province on 6-8 November (the event window of ``qostool event``).
  In both November exports the storm is planted: two communes have no test at all in
  the window, one ward has no VinaPhone test in it, and in two communes every test
  of the window is six to seven times slower than usual.
* ``2025-10-01_performance_mobile_tiles.parquet``: aggregated tiles in the style
  of the Ookla open data (zoom-16 quadkeys, 2025 Q4).
* ``README.md``: describes the files, the planted bad rows (with their row
  numbers) and the overlaps. It is written from the same records as the data.

Each CSV has a few rows that are broken on purpose, with one fault per row, so
that every reject reason of the validator gets exercised. Two communes have no
tests at all. Three communes have only 1-4 tests per month, and two are clearly
slow.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import unicodedata
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

SEED = 20_251_001
ICT = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh has no DST
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "samples"

# --- Province geometry ------------------------------------------------------------------------
PROVINCE_ID = "99"
PROVINCE_NAME = "Sơn Lâm"
LON_MIN, LON_MAX = 103.10, 103.60
LAT_MIN, LAT_MAX = 21.30, 21.70
N_COLS, N_ROWS = 6, 5
VERTEX_JITTER = 0.16  # max grid-vertex shift, as a fraction of the cell size
EDGE_POINTS = 3  # points added inside every edge
EDGE_WIGGLE = 0.05  # max sideways shift of those points, as a fraction of the edge length
EARTH_RADIUS_KM = 6371.0088
COORD_DECIMALS = 6

XA_NAMES = (
    "Mường Tè",
    "Nậm Hàng",
    "Bình Lư",
    "Sìn Hồ",
    "Phong Thổ",
    "Pa Tần",
    "Nậm Tăm",
    "Tả Lèng",
    "Khổng Lào",
    "Mường So",
    "Dào San",
    "Sì Lở Lầu",
    "Ma Quai",
    "Hua Bum",
    "Bum Tở",
    "Pu Sam Cáp",
    "Nậm Cuổi",
    "Bản Bo",
    "Thèn Sin",
    "Mường Kim",
    "Phúc Than",
    "Ka Lăng",
    "Pa Ủ",
    "Mù Cả",
    "Noong Hẻo",
    "Hồng Thu",
)
PHUONG_NAMES = ("Tân Phong", "Đoàn Kết", "Quyết Thắng", "Đông Phong")
#: Urban wards, as (column from the west, row from the north).
PHUONG_CELLS = frozenset({(2, 1), (3, 1), (2, 2), (3, 2)})

# --- Test volumes and special communes ----------------------------------------------------------
MONTHS = ("2025-09", "2025-10", "2025-11")
EMPTY_COMMUNES = ("99006", "99025")
#: Tests per local month (September, October, November) in the thin communes.
THIN_COUNTS = {"99001": (2, 3, 1), "99019": (1, 4, 2), "99030": (4, 1, 3)}
#: Target mean 4G download (Mbps) of the slow communes; the others get 35-70.
SLOW_MEANS = {"99012": 18.0, "99027": 23.0}
ISPEED_TESTS = 1500  # valid tests per i-Speed file
ISPEED_EARLY = 5  # of which at local 00:00-06:59 on the 1st
RTR10_TESTS = 1176  # valid local-October tests in rtr_2025-10.csv
RTR10_SEP30 = 4  # of which at UTC 2025-09-30 18:xx (local 1 October)
RTR10_LATE = 20  # extra tests at UTC 2025-10-31 17:00-23:59 (local November)
RTR11_TESTS = 1150  # new valid local-November tests in rtr_2025-11.csv
RTR_OVERLAP_OTHERS = 30  # local-October rows of rtr_2025-10.csv repeated in rtr_2025-11.csv
ISPEED11_DAYS = 8  # ispeed_2025-11.csv covers local 1-8 November ...
ISPEED11_TESTS = round(ISPEED_TESTS * ISPEED11_DAYS / 30)  # ... at the usual rate

# --- The storm (the event window of ``qostool event``) ------------------------------------------
EVENT_START = datetime(2025, 11, 6, tzinfo=ICT)  # local days 6, 7 and 8 November
EVENT_DAYS = 3
#: Communes with no test at all in the window (all operators silent).
SILENT_COMMUNES = ("99017", "99028")
#: Communes where one operator is silent in the window (its devices test nowhere there).
SILENT_OPERATOR = {"99010": "VinaPhone"}
#: Communes where every test in the window is this much slower (backup links).
DEGRADED_COMMUNES = {"99003": 0.15, "99026": 0.15}
N_ISPEED_DEVICES = 340
N_RTR_DEVICES = 260
N_TILES = 300
TILE_ZOOM = 16

# --- Operators and technologies -----------------------------------------------------------------
OPERATORS = ("Viettel", "VinaPhone", "MobiFone", "Vietnamobile")
OPERATOR_P = (0.45, 0.30, 0.20, 0.05)
OPERATOR_SPEED = {"Viettel": 1.10, "VinaPhone": 1.00, "MobiFone": 0.95, "Vietnamobile": 0.75}
MCC_MNC = {
    "Viettel": "452-04",
    "VinaPhone": "452-02",
    "MobiFone": "452-01",
    "Vietnamobile": "452-05",
}
ISPEED_OPERATOR_LABELS: dict[str, tuple[tuple[str, float], ...]] = {
    "Viettel": (("Viettel", 0.6), ("VIETTEL", 0.2), ("Viettel Telecom", 0.2)),
    "VinaPhone": (("VinaPhone", 0.5), ("Vinaphone", 0.3), ("VNPT", 0.2)),
    "MobiFone": (("MobiFone", 0.6), ("Mobifone", 0.4)),
    "Vietnamobile": (("Vietnamobile", 1.0),),
}
TECHS = ("4G", "5G", "3G", "WiFi")
TECH_P = (0.70, 0.20, 0.05, 0.05)
ISPEED_TECH_LABELS: dict[str, tuple[tuple[str, float], ...]] = {
    "4G": (("4G", 0.7), ("LTE", 0.3)),
    "5G": (("5G", 0.6), ("5G NSA", 0.4)),
    "3G": (("3G", 1.0),),
    "WiFi": (("WiFi", 1.0),),
}
RTR_TECH = {
    "4G": ("4G", "LTE"),
    "5G": ("5G", "NR NSA"),
    "3G": ("3G", "HSPA+"),
    "WiFi": ("WLAN", "WLAN"),
}
DOWNLOAD_SIGMA = 0.45  # log-sd of download around the commune median
TECH_SPEED = {"4G": 1.0, "3G": 0.12, "WiFi": 1.4}  # 5G: 2-4x, drawn per test
LATENCY_MODEL = {"4G": (42.0, 12.0), "5G": (24.0, 6.0), "3G": (66.0, 8.0), "WiFi": (30.0, 10.0)}
SIGNAL_MODEL = {
    "4G": (-95.0, 10.0, -125, -65),
    "5G": (-90.0, 9.0, -120, -65),
    "3G": (-88.0, 9.0, -113, -51),
    "WiFi": (-60.0, 8.0, -90, -30),
}
#: Relative number of tests per local hour of the day.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 7, 8, 7, 6, 6, 7, 8, 10, 11, 11, 9, 6, 3)

ISPEED_HEADER = (
    "Mã phép đo",
    "Thời gian đo",
    "Vĩ độ",
    "Kinh độ",
    "Nhà mạng",
    "Loại mạng",
    "Tốc độ tải xuống (Mbps)",
    "Tốc độ tải lên (Mbps)",
    "Độ trễ (ms)",
    "Mã thiết bị",
    "MCC-MNC",
)
RTR_HEADER = (
    "open_uuid",
    "open_test_uuid",
    "time_utc",
    "cat_technology",
    "network_type",
    "lat",
    "long",
    "loc_accuracy",
    "download_kbit",
    "upload_kbit",
    "ping_ms",
    "network_mcc_mnc",
    "network_name",
    "implausible",
    "pinned",
    "signal_strength",
)

#: Planted faults: kind -> (what a validator should report, description).
FAULTS: dict[str, tuple[str, str]] = {
    "missing_coords": ("missing_coordinates", "`Vĩ độ` and `Kinh độ` are empty"),
    "lat_abc": ("invalid_coordinates", '`Vĩ độ` is "abc"'),
    "negative_download": ("negative_speed", 'download is "-5,0"'),
    "huge_download": ("implausible_speed", 'download is "25000,0" Mbps'),
    "bad_date": ("invalid_timestamp", '`Thời gian đo` is "32/13/2025 25:00:00"'),
    "future": ("future_timestamp", "test time in 2031"),
    "short": ("short_row", "only the first 5 of 11 fields"),
    "duplicate": ("duplicate", "exact copy of an earlier line"),
    "null_island": ("invalid_coordinates", "lat 0.0, long 0.0 (null island)"),
    "lat_123": ("invalid_coordinates", "lat 123.0 is out of range"),
    "empty_download": ("missing_download", "`download_kbit` is empty"),
    "negative_ping": ("invalid_latency", '`ping_ms` is "-3"'),
    "extra_field": ("long_row", 'unquoted comma in `network_name` (", VN"): 17 fields'),
    "not_a_time": ("invalid_timestamp", '`time_utc` is "not a time"'),
    "flagged": ("flagged_by_source", '`implausible` is "true"'),
}
#: Where bad rows go, as a fraction of the file's valid rows.
ISPEED_FAULTS = (
    ("missing_coords", 0.06),
    ("lat_abc", 0.18),
    ("negative_download", 0.30),
    ("bad_date", 0.43),
    ("huge_download", 0.55),
    ("future", 0.68),
    ("short", 0.81),
)
ISPEED_DUPLICATE = (0.47, 0.92)  # copy the row at the first fraction to the second
RTR_FAULTS = (
    ("null_island", 0.05),
    ("flagged", 0.13),
    ("lat_123", 0.22),
    ("empty_download", 0.36),
    ("flagged", 0.45),
    ("negative_ping", 0.52),
    ("extra_field", 0.66),
    ("flagged", 0.74),
    ("not_a_time", 0.87),
)


# --- Data records -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Commune:
    code: str
    name: str
    kind: str
    population: int
    ring: np.ndarray  # closed exterior ring, shape (n, 2), lon/lat, counter-clockwise


@dataclass(frozen=True)
class Device:
    device_id: str
    operator: str
    operator_label: str  # how the i-Speed app writes the operator
    activity: float  # relative number of tests


@dataclass(frozen=True, eq=False)
class Test:
    utc: datetime
    commune: str
    lon: float
    lat: float
    device: Device
    technology: str
    tech_label: str  # how the i-Speed app writes the technology
    download: float  # Mbps
    upload: float  # Mbps
    latency: float  # ms
    mcc_blank: bool  # i-Speed leaves MCC-MNC empty
    accuracy: float  # m
    signal: int  # dBm


@dataclass(eq=False)
class Row:
    test: Test
    fault: str | None = None
    fields: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class World:
    communes: list[Commune]
    by_code: dict[str, Commune]
    medians: dict[str, float]  # median 4G download per commune, Mbps
    busy_codes: list[str]  # communes with normal test volumes
    busy_p: np.ndarray


@dataclass(frozen=True)
class SampleFile:
    name: str
    rows: list[Row]


def rng_for(stream: str) -> np.random.Generator:
    """An independent, seeded random stream per named part of the data."""
    return np.random.default_rng([SEED, zlib.crc32(stream.encode())])


def pick_label(labels: tuple[tuple[str, float], ...], u: float) -> str:
    """The label whose cumulative probability interval contains ``u``."""
    total = 0.0
    for label, p in labels:
        total += p
        if u < total:
            return label
    return labels[-1][0]


# --- Geometry -----------------------------------------------------------------------------------
Vertex = tuple[int, int]


def grid_vertices(rng: np.random.Generator) -> np.ndarray:
    """Jittered grid vertices, shape (N_COLS + 1, N_ROWS + 1, 2), rounded to 6 decimals."""
    dx, dy = (LON_MAX - LON_MIN) / N_COLS, (LAT_MAX - LAT_MIN) / N_ROWS
    i, j = np.meshgrid(np.arange(N_COLS + 1), np.arange(N_ROWS + 1), indexing="ij")
    jitter = rng.uniform(-VERTEX_JITTER, VERTEX_JITTER, size=(N_COLS + 1, N_ROWS + 1, 2))
    lon = LON_MIN + (i + jitter[..., 0]) * dx
    lat = LAT_MIN + (j + jitter[..., 1]) * dy
    return np.round(np.stack([lon, lat], axis=-1), COORD_DECIMALS)


def grid_edges() -> list[tuple[Vertex, Vertex]]:
    """Every grid edge once, from its lower-left to its upper-right vertex."""
    horizontal = [((i, j), (i + 1, j)) for i in range(N_COLS) for j in range(N_ROWS + 1)]
    vertical = [((i, j), (i, j + 1)) for i in range(N_COLS + 1) for j in range(N_ROWS)]
    return horizontal + vertical


def edge_points(
    rng: np.random.Generator, vertices: np.ndarray
) -> dict[tuple[Vertex, Vertex], np.ndarray]:
    """Wiggled points inside every edge, shared by the two communes on either side."""
    t = np.arange(1, EDGE_POINTS + 1) / (EDGE_POINTS + 1)
    points = {}
    for a, b in grid_edges():
        start, delta = vertices[a], vertices[b] - vertices[a]
        normal = np.array([-delta[1], delta[0]])
        offsets = rng.uniform(-EDGE_WIGGLE, EDGE_WIGGLE, EDGE_POINTS)
        inner = start + t[:, None] * delta + offsets[:, None] * normal
        points[(a, b)] = np.round(inner, COORD_DECIMALS)
    return points


def cell_ring(
    col: int,
    row: int,
    vertices: np.ndarray,
    edges: dict[tuple[Vertex, Vertex], np.ndarray],
) -> np.ndarray:
    """The closed, counter-clockwise ring of grid cell (col, row), row 0 being the south."""
    corners = [(col, row), (col + 1, row), (col + 1, row + 1), (col, row + 1)]
    parts = []
    for k, a in enumerate(corners):
        b = corners[(k + 1) % 4]
        parts.append(vertices[a][None, :])
        parts.append(edges[(a, b)] if (a, b) in edges else edges[(b, a)][::-1])
    parts.append(vertices[corners[0]][None, :])
    return np.vstack(parts)


def signed_area(ring: np.ndarray) -> float:
    """Shoelace area of a closed ring (positive when counter-clockwise)."""
    x, y = ring[:, 0] - ring[:, 0].mean(), ring[:, 1] - ring[:, 1].mean()
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def area_km2(ring: np.ndarray) -> float:
    """Area in km² using a local equirectangular projection around the ring's mean latitude."""
    lat0 = math.radians(float(ring[:, 1].mean()))
    x = np.radians(ring[:, 0]) * EARTH_RADIUS_KM * math.cos(lat0)
    y = np.radians(ring[:, 1]) * EARTH_RADIUS_KM
    return round(abs(signed_area(np.stack([x, y], axis=1))), 2)


def _orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> float:
    return float((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))


def segments_touch(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    """Whether two segments intersect or touch (conservative: collinear counts as touching)."""
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    return d1 * d2 <= 0 and d3 * d4 <= 0


def check_ring(ring: np.ndarray) -> None:
    """Fail unless the ring is closed, counter-clockwise and simple."""
    if not np.array_equal(ring[0], ring[-1]):
        raise ValueError("ring is not closed")
    if signed_area(ring) <= 0:
        raise ValueError("ring is not counter-clockwise")
    n = len(ring) - 1
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # the first and last segments share the closing vertex
            if segments_touch(ring[i], ring[i + 1], ring[j], ring[j + 1]):
                raise ValueError(f"ring self-intersects at segments {i} and {j}")


def points_in_ring(lon: np.ndarray, lat: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: which points lie inside the closed ring."""
    x0, y0, x1, y1 = ring[:-1, 0], ring[:-1, 1], ring[1:, 0], ring[1:, 1]
    px, py = lon[:, None], lat[:, None]
    straddles = (y0 > py) != (y1 > py)
    dy = np.where(y1 == y0, 1.0, y1 - y0)
    crossing_x = x0 + (py - y0) * (x1 - x0) / dy
    return ((straddles & (px < crossing_x)).sum(axis=1) % 2) == 1


def build_province(rng: np.random.Generator) -> list[Commune]:
    """The 30 communes, coded 99001.. row by row from the north-west corner."""
    vertices = grid_vertices(rng)
    edges = edge_points(rng, vertices)
    xa, phuong = iter(XA_NAMES), iter(PHUONG_NAMES)
    communes = []
    for north_row in range(N_ROWS):
        for col in range(N_COLS):
            urban = (col, north_row) in PHUONG_CELLS
            ring = cell_ring(col, N_ROWS - 1 - north_row, vertices, edges)
            check_ring(ring)
            population = int(rng.integers(18_000, 40_001) if urban else rng.integers(4_000, 15_001))
            communes.append(
                Commune(
                    code=f"{PROVINCE_ID}{len(communes) + 1:03d}",
                    name=unicodedata.normalize("NFC", next(phuong) if urban else next(xa)),
                    kind="Phường" if urban else "Xã",
                    population=population,
                    ring=ring,
                )
            )
    return communes


def province_geojson(communes: Sequence[Commune]) -> str:
    features = [
        {
            "type": "Feature",
            "properties": {
                "id": c.code,
                "name": c.name,
                "type": c.kind,
                "population": c.population,
                "area": area_km2(c.ring),
                "provinceId": PROVINCE_ID,
                "provinceName": PROVINCE_NAME,
            },
            "geometry": {"type": "Polygon", "coordinates": [c.ring.tolist()]},
        }
        for c in communes
    ]
    collection = {"type": "FeatureCollection", "name": "son_lam_communes", "features": features}
    return json.dumps(collection, ensure_ascii=False, sort_keys=True) + "\n"


def sample_points(rng: np.random.Generator, ring: np.ndarray, n: int) -> np.ndarray:
    """``n`` points (rounded to 6 decimals) uniformly inside the ring, by rejection."""
    lo, hi = ring.min(axis=0), ring.max(axis=0)
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        candidates = np.round(rng.uniform(lo, hi, size=(2 * n + 8, 2)), COORD_DECIMALS)
        inside = candidates[points_in_ring(candidates[:, 0], candidates[:, 1], ring)]
        found.append(inside)
        count += len(inside)
    return np.vstack(found)[:n]


# --- The world: communes, speed profiles, devices ---------------------------------------------
def commune_medians(rng: np.random.Generator, communes: Sequence[Commune]) -> dict[str, float]:
    """Median 4G download per commune, such that the mean 4G download hits the target."""
    operator_factor = sum(p * OPERATOR_SPEED[o] for o, p in zip(OPERATORS, OPERATOR_P, strict=True))
    lognormal_mean = math.exp(DOWNLOAD_SIGMA**2 / 2)
    targets = {c.code: float(rng.uniform(35.0, 70.0)) for c in communes}
    targets.update(SLOW_MEANS)
    return {code: t / (operator_factor * lognormal_mean) for code, t in targets.items()}


def build_world(communes: list[Commune]) -> World:
    quiet = set(EMPTY_COMMUNES) | set(THIN_COUNTS)
    busy = [c for c in communes if c.code not in quiet]
    weights = np.array([c.population for c in busy], dtype=float)
    return World(
        communes=communes,
        by_code={c.code: c for c in communes},
        medians=commune_medians(rng_for("medians"), communes),
        busy_codes=[c.code for c in busy],
        busy_p=weights / weights.sum(),
    )


def make_devices(rng: np.random.Generator, n: int, app: str) -> list[Device]:
    """The devices of one app; i-Speed ids look like ``android-7f3a9c1e2b``, RTR ones are UUIDs."""
    devices = []
    for _ in range(n):
        operator = OPERATORS[int(rng.choice(len(OPERATORS), p=OPERATOR_P))]
        if app == "ispeed":
            device_id = ("android-" if rng.random() < 0.8 else "ios-") + rng.bytes(5).hex()
        else:
            device_id = "P" + rng.bytes(16).hex()
        label = pick_label(ISPEED_OPERATOR_LABELS[operator], float(rng.random()))
        devices.append(Device(device_id, operator, label, float(rng.lognormal(0.0, 0.8))))
    if len({d.device_id for d in devices}) != n:
        raise ValueError("device id collision")
    return devices


# --- Tests --------------------------------------------------------------------------------------
def local_times(
    rng: np.random.Generator, start: datetime, days: int, n: int, hours: Sequence[int] | None = None
) -> list[datetime]:
    """``n`` UTC times from local days ``start`` .. ``start + days``, busier in the evening."""
    weights = np.array(HOUR_WEIGHTS, dtype=float)
    if hours is not None:
        weights = np.isin(np.arange(24), list(hours)).astype(float)
    day = rng.integers(0, days, n)
    hour = rng.choice(24, size=n, p=weights / weights.sum())
    minute, second = rng.integers(0, 60, n), rng.integers(0, 60, n)
    return [
        (start + timedelta(days=int(d), hours=int(h), minutes=int(m), seconds=int(s))).astimezone(
            UTC
        )
        for d, h, m, s in zip(day, hour, minute, second, strict=True)
    ]


def month_start(month: str) -> datetime:
    year, mon = (int(part) for part in month.split("-"))
    return datetime(year, mon, 1, tzinfo=ICT)


def month_days(month: str) -> int:
    start = month_start(month)
    return calendar.monthrange(start.year, start.month)[1]


def local_month(utc: datetime) -> str:
    return utc.astimezone(ICT).strftime("%Y-%m")


def one_test(
    world: World, device: Device, code: str, utc: datetime, *, u: np.ndarray, z: np.ndarray
) -> Test:
    """A test built from 5 uniform draws ``u`` and 4 standard normal draws ``z``."""
    technology = TECHS[int(np.searchsorted(np.cumsum(TECH_P), u[0], side="right"))]
    factor = 2.0 + 2.0 * float(u[1]) if technology == "5G" else TECH_SPEED[technology]
    noise = math.exp(DOWNLOAD_SIGMA * float(z[0]))
    download = max(0.1, world.medians[code] * OPERATOR_SPEED[device.operator] * factor * noise)
    upload = max(0.05, download / 3.0 * math.exp(0.3 * float(z[1])))
    mu, sd = LATENCY_MODEL[technology]
    s_mu, s_sd, s_lo, s_hi = SIGNAL_MODEL[technology]
    return Test(
        utc=utc,
        commune=code,
        lon=0.0,
        lat=0.0,
        device=device,
        technology=technology,
        tech_label=pick_label(ISPEED_TECH_LABELS[technology], float(u[2])),
        download=round(download, 2),
        upload=round(upload, 2),
        latency=round(min(80.0, max(15.0, mu + sd * float(z[2]))), 1),
        mcc_blank=technology == "WiFi" or float(u[3]) < 0.053,
        accuracy=round(3.0 + 37.0 * float(u[4]) ** 2, 1),
        signal=round(min(s_hi, max(s_lo, s_mu + s_sd * float(z[3])))),
    )


def make_tests(
    rng: np.random.Generator,
    world: World,
    devices: Sequence[Device],
    codes: Sequence[str],
    times: Sequence[datetime],
) -> list[Test]:
    """Tests in the given communes at the given times, located inside the commune polygons."""
    n = len(times)
    activity = np.array([d.activity for d in devices])
    device_idx = rng.choice(len(devices), size=n, p=activity / activity.sum())
    uniform, normal = rng.random((n, 5)), rng.standard_normal((n, 4))
    tests = [
        one_test(world, devices[int(k)], code, utc, u=u, z=z)
        for k, code, utc, u, z in zip(device_idx, codes, times, uniform, normal, strict=True)
    ]
    code_arr = np.array(codes)
    located: list[Test | None] = [None] * n
    for code in sorted(set(codes)):
        idx = np.flatnonzero(code_arr == code)
        points = sample_points(rng, world.by_code[code].ring, len(idx))
        for k, (lon, lat) in zip(idx, points, strict=True):
            located[k] = replace(tests[k], lon=float(lon), lat=float(lat))
    return [t for t in located if t is not None]


def busy_tests(
    rng: np.random.Generator,
    world: World,
    devices: Sequence[Device],
    times: Sequence[datetime],
) -> list[Test]:
    """Tests in communes with normal volumes, picked in proportion to population."""
    codes = rng.choice(world.busy_codes, size=len(times), p=world.busy_p)
    return make_tests(rng, world, devices, [str(c) for c in codes], times)


def thin_tests(
    rng: np.random.Generator,
    world: World,
    devices: Sequence[Device],
    month: str,
    share: Callable[[int], int],
) -> list[Test]:
    """This source's share of the tests in the thin communes for a local month."""
    codes = []
    for code, counts in THIN_COUNTS.items():
        codes += [code] * share(counts[MONTHS.index(month)])
    times = local_times(rng, month_start(month), month_days(month), len(codes))
    return make_tests(rng, world, devices, codes, times)


def ispeed_tests(world: World, devices: Sequence[Device], month: str) -> list[Test]:
    rng = rng_for(f"ispeed-{month}")
    thin = thin_tests(
        rng, world, devices, month, lambda n: (n + 1) // 2 if month == "2025-10" else n
    )
    n_busy = ISPEED_TESTS - ISPEED_EARLY - len(thin)
    times = local_times(rng, month_start(month), month_days(month), n_busy)
    times += local_times(rng, month_start(month), 1, ISPEED_EARLY, hours=range(7))
    return sorted(busy_tests(rng, world, devices, times) + thin, key=lambda t: t.utc)


def rtr10_tests(world: World, devices: Sequence[Device]) -> list[Test]:
    rng = rng_for("rtr-2025-10")
    thin = thin_tests(rng, world, devices, "2025-10", lambda n: n // 2)
    oct_start, nov_start = month_start("2025-10"), month_start("2025-11")
    times = local_times(rng, oct_start, 31, RTR10_TESTS - RTR10_SEP30 - len(thin))
    times += local_times(rng, oct_start, 1, RTR10_SEP30, hours=[1])  # UTC 2025-09-30 18:xx
    times += local_times(rng, nov_start, 1, RTR10_LATE, hours=range(7))  # UTC 2025-10-31 17-23h
    return sorted(busy_tests(rng, world, devices, times) + thin, key=lambda t: t.utc)


def rtr11_tests(world: World, devices: Sequence[Device]) -> list[Test]:
    rng = rng_for("rtr-2025-11")
    thin = thin_tests(rng, world, devices, "2025-11", lambda n: n)
    times = local_times(rng, month_start("2025-11"), 30, RTR11_TESTS - len(thin))
    return storm(sorted(busy_tests(rng, world, devices, times) + thin, key=lambda t: t.utc))


def in_event(utc: datetime) -> bool:
    """Whether a test falls on a local day of the planted storm."""
    start = EVENT_START.astimezone(UTC)
    return start <= utc < start + timedelta(days=EVENT_DAYS)


def storm(tests: list[Test]) -> list[Test]:
    """The storm planted in a November source: silent communes and operators, slow links.

    Tests that the outage prevented are dropped; tests in degraded communes keep their
    time and place, with a download (and upload) divided as planted.
    """
    out = []
    for test in tests:
        if in_event(test.utc):
            if test.commune in SILENT_COMMUNES:
                continue
            if SILENT_OPERATOR.get(test.commune) == test.device.operator:
                continue
            factor = DEGRADED_COMMUNES.get(test.commune)
            if factor is not None:
                out.append(
                    replace(
                        test,
                        download=round(max(0.1, test.download * factor), 2),
                        upload=round(max(0.05, test.upload * factor), 2),
                    )
                )
                continue
        out.append(test)
    return out


def ispeed11_tests(world: World, devices: Sequence[Device]) -> list[Test]:
    """The partial November export: busy communes only, local 1-8 November."""
    rng = rng_for("ispeed-2025-11")
    times = local_times(rng, month_start("2025-11"), ISPEED11_DAYS, ISPEED11_TESTS)
    return storm(sorted(busy_tests(rng, world, devices, times), key=lambda t: t.utc))


def plant_faults(
    rng: np.random.Generator,
    world: World,
    devices: Sequence[Device],
    tests: list[Test],
    faults: Sequence[tuple[str, float]],
) -> list[Row]:
    """Rows for the tests plus one extra bad row per fault, inserted at the given fractions."""
    rows = [Row(t) for t in tests]
    for kind, fraction in sorted(faults, key=lambda f: -f[1]):
        index = round(fraction * len(tests))
        when = tests[index - 1].utc + timedelta(seconds=23)
        (bad,) = busy_tests(rng, world, devices, [when])
        rows.insert(index, Row(bad, fault=kind))
    return rows


# --- Rendering ----------------------------------------------------------------------------------
def comma(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def ispeed_fields(test: Test, test_id: str) -> tuple[str, ...]:
    return (
        test_id,
        test.utc.astimezone(ICT).strftime("%d/%m/%Y %H:%M:%S"),
        comma(test.lat, COORD_DECIMALS),
        comma(test.lon, COORD_DECIMALS),
        test.device.operator_label,
        test.tech_label,
        comma(test.download, 2),
        comma(test.upload, 2),
        str(round(test.latency)),
        test.device.device_id,
        "" if test.mcc_blank else MCC_MNC[test.device.operator],
    )


def rtr_fields(test: Test, test_uuid: str) -> tuple[str, ...]:
    category, network_type = RTR_TECH[test.technology]
    return (
        test.device.device_id,
        test_uuid,
        test.utc.strftime("%Y-%m-%d %H:%M:%S"),
        category,
        network_type,
        f"{test.lat:.{COORD_DECIMALS}f}",
        f"{test.lon:.{COORD_DECIMALS}f}",
        f"{test.accuracy:.1f}",
        str(round(test.download * 1000)),
        str(round(test.upload * 1000)),
        f"{test.latency:.1f}",
        MCC_MNC[test.device.operator],
        test.device.operator,
        "false",
        "true",
        str(test.signal),
    )


def _set(fields: tuple[str, ...], index: int, value: str) -> tuple[str, ...]:
    return (*fields[:index], value, *fields[index + 1 :])


MUTATIONS: dict[str, Callable[[tuple[str, ...]], tuple[str, ...]]] = {
    "missing_coords": lambda f: _set(_set(f, 2, ""), 3, ""),
    "lat_abc": lambda f: _set(f, 2, "abc"),
    "negative_download": lambda f: _set(f, 6, "-5,0"),
    "huge_download": lambda f: _set(f, 6, "25000,0"),
    "bad_date": lambda f: _set(f, 1, "32/13/2025 25:00:00"),
    "future": lambda f: _set(f, 1, f[1][:6] + "2031" + f[1][10:]),
    "short": lambda f: f[:5],
    "null_island": lambda f: _set(_set(f, 5, "0.0"), 6, "0.0"),
    "lat_123": lambda f: _set(f, 5, "123.0"),
    "empty_download": lambda f: _set(f, 8, ""),
    "negative_ping": lambda f: _set(f, 10, "-3"),
    "extra_field": lambda f: (*f[:12], f[12], " VN", *f[13:]),
    "not_a_time": lambda f: _set(f, 2, "not a time"),
    "flagged": lambda f: _set(f, 13, "true"),
}


def render_ispeed(rows: list[Row], month: str, *, duplicate: bool = True) -> list[Row]:
    """Give every row its fields and test id, apply faults, then add the duplicate line."""
    for number, row in enumerate(rows, start=1):
        fields = ispeed_fields(row.test, f"IS-{month}-{number:06d}")
        row.fields = MUTATIONS[row.fault](fields) if row.fault else fields
    if not duplicate:
        return rows
    source, target = (round(f * len(rows)) for f in ISPEED_DUPLICATE)
    copy = Row(rows[source].test, "duplicate", rows[source].fields, f"copy of row {source + 2}")
    return [*rows[:target], copy, *rows[target:]]


def render_rtr(rows: list[Row], rng: np.random.Generator) -> list[Row]:
    for row in rows:
        fields = rtr_fields(row.test, "O" + rng.bytes(16).hex())
        row.fields = MUTATIONS[row.fault](fields) if row.fault else fields
    return rows


def rtr_overlap(rng: np.random.Generator, rows: Sequence[Row]) -> list[Row]:
    """Rows of the October export that the November export repeats exactly."""
    late_utc = datetime(2025, 10, 31, 17, tzinfo=UTC)
    sep30 = datetime(2025, 10, 1, tzinfo=UTC)
    plain = [r for r in rows if r.fault is None and r.test.commune not in THIN_COUNTS]
    late = [r for r in plain if r.test.utc >= late_utc]
    others = [r for r in plain if sep30 <= r.test.utc < late_utc]
    picked = sorted(rng.choice(len(others), size=RTR_OVERLAP_OTHERS, replace=False).tolist())
    return sorted(late + [others[k] for k in picked], key=lambda r: r.test.utc)


def csv_bytes(header: Sequence[str], rows: Sequence[Row], sep: str, eol: str, bom: bool) -> bytes:
    lines = [sep.join(header), *(sep.join(r.fields) for r in rows)]
    return ("\ufeff" if bom else "").encode() + (eol.join(lines) + eol).encode()


# --- Ookla tiles --------------------------------------------------------------------------------
def quadkey(x: int, y: int, zoom: int) -> str:
    """Bing Maps quadkey of tile (x, y)."""
    digits = []
    for level in range(zoom, 0, -1):
        mask = 1 << (level - 1)
        digits.append(str((1 if x & mask else 0) + (2 if y & mask else 0)))
    return "".join(digits)


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    x = math.floor((lon + 180.0) / 360.0 * n)
    y = math.floor((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tile_centres(xs: np.ndarray, ys: np.ndarray, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    n = 2.0**zoom
    lon = (xs + 0.5) / n * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * (ys + 0.5) / n))))
    return lon, lat


def tiles_by_commune(world: World) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All zoom-16 tiles whose centre lies in a commune: x, y and the commune code."""
    rings = np.vstack([c.ring for c in world.communes])
    x0, y0 = tile_of(float(rings[:, 0].min()), float(rings[:, 1].max()), TILE_ZOOM)
    x1, y1 = tile_of(float(rings[:, 0].max()), float(rings[:, 1].min()), TILE_ZOOM)
    xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1), indexing="ij")
    xs, ys = xs.ravel(), ys.ravel()
    lon, lat = tile_centres(xs, ys, TILE_ZOOM)
    owner = np.full(len(xs), "", dtype=object)
    for commune in world.communes:
        inside = points_in_ring(lon, lat, commune.ring)
        if np.any(inside & (owner != "")):
            raise ValueError("communes overlap")
        owner[inside] = commune.code
    keep = owner != ""
    return xs[keep], ys[keep], [str(o) for o in owner[keep]]


def ookla_tiles(world: World) -> pl.DataFrame:
    rng = rng_for("ookla")
    xs, ys, owners = tiles_by_commune(world)
    quiet = set(EMPTY_COMMUNES) | set(THIN_COUNTS)
    eligible = [k for k, code in enumerate(owners) if code not in quiet]
    picked = np.array(sorted(rng.choice(eligible, size=N_TILES, replace=False).tolist()))
    xs, ys = xs[picked], ys[picked]
    lon, lat = tile_centres(xs, ys, TILE_ZOOM)
    medians = np.array([world.medians[owners[k]] for k in picked])
    download = medians * 1.25 * rng.lognormal(0.0, 0.35, N_TILES) * 1000
    tests = np.clip(rng.geometric(0.1, N_TILES), 1, 40)
    frame = pl.DataFrame(
        {
            "quadkey": [quadkey(int(x), int(y), TILE_ZOOM) for x, y in zip(xs, ys, strict=True)],
            "tile_x": lon,
            "tile_y": np.round(lat, 10),
            "avg_d_kbps": np.round(download).astype(np.int64),
            "avg_u_kbps": np.round(download / 3 * rng.lognormal(0.0, 0.3, N_TILES)).astype(
                np.int64
            ),
            "avg_lat_ms": np.round(np.clip(rng.normal(36, 10, N_TILES), 15, 90)).astype(np.int64),
            "tests": tests.astype(np.int64),
            "devices": np.maximum(1, np.round(tests * rng.uniform(0.4, 1.0, N_TILES))).astype(
                np.int64
            ),
        }
    )
    return frame.sort("quadkey")


# --- README -------------------------------------------------------------------------------------
def fault_table(sample: SampleFile) -> list[str]:
    lines = ["| row | problem | expected verdict |", "|---:|---|---|"]
    for number, row in enumerate(sample.rows, start=2):
        if row.fault:
            verdict, what = FAULTS[row.fault]
            what = f"{what} ({row.note})" if row.note else what
            lines.append(f"| {number} | {what} | `{verdict}` |")
    return lines


def number_ranges(numbers: Sequence[int]) -> str:
    """Compact ``2-5, 9, 11-12`` notation for sorted row numbers."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def valid_tests(files: Sequence[SampleFile]) -> list[Test]:
    """Every distinct test that a validator should keep."""
    seen: dict[int, Test] = {}
    for sample in files:
        for row in sample.rows:
            if row.fault is None:
                seen.setdefault(id(row.test), row.test)
    return list(seen.values())


def expectations(world: World, files: Sequence[SampleFile]) -> list[str]:
    tests = valid_tests(files)
    counts: dict[tuple[str, str], int] = {}
    fourg: dict[tuple[str, str], list[float]] = {}
    for t in tests:
        key = (t.commune, local_month(t.utc))
        counts[key] = counts.get(key, 0) + 1
        if t.technology == "4G":
            fourg.setdefault(key, []).append(t.download)
    name = {c.code: f"{c.code} {c.name}" for c in world.communes}
    lines = [f"- no tests at all: {', '.join(name[c] for c in EMPTY_COMMUNES)}"]
    for code in THIN_COUNTS:
        per_month = ", ".join(f"{m}: {counts.get((code, m), 0)}" for m in MONTHS)
        lines.append(f"- thin: {name[code]} (valid tests per local month: {per_month})")
    for code in SLOW_MEANS:
        means = ", ".join(f"{m}: {np.mean(fourg[(code, m)]):.1f}" for m in MONTHS)
        lines.append(f"- slow: {name[code]} (mean 4G download, Mbps: {means})")
    special = set(SLOW_MEANS) | set(THIN_COUNTS)
    busy = [np.mean(v) for (code, _), v in fourg.items() if code not in special]
    lines.append(
        f"- other communes: mean 4G download {min(busy):.1f}-{max(busy):.1f} Mbps per month"
    )
    totals = ", ".join(f"{m}: {sum(local_month(t.utc) == m for t in tests)}" for m in MONTHS)
    lines.append(f"- distinct valid tests per local month (all CSVs together): {totals}")
    return lines


def storm_expectations(world: World, files: Sequence[SampleFile]) -> list[str]:
    """What the planted storm should look like to ``qostool event`` (default baseline)."""
    tests = valid_tests(files)
    start = EVENT_START.astimezone(UTC)
    base_start = start - timedelta(days=28)
    name = {c.code: f"{c.code} {c.name}" for c in world.communes}

    def count(code: str, first: datetime, days: int, operator: str | None = None) -> int:
        last = first + timedelta(days=days)
        return sum(
            t.commune == code
            and first <= t.utc < last
            and t.technology != "WiFi"
            and (operator is None or t.device.operator == operator)
            for t in tests
        )

    lines = [
        "Local days 6-8 November 2025 are the storm; the default baseline is the 28 days"
        " before (9 October - 5 November). Cellular tests (Wi-Fi left out), baseline and"
        " window:",
        "",
    ]
    for code in SILENT_COMMUNES:
        lines.append(
            f"- silent, all operators: {name[code]} (baseline {count(code, base_start, 28)},"
            f" window {count(code, start, EVENT_DAYS)})"
        )
    for code, operator in SILENT_OPERATOR.items():
        lines.append(
            f"- silent, {operator} only: {name[code]} ({operator}: baseline"
            f" {count(code, base_start, 28, operator)}, window"
            f" {count(code, start, EVENT_DAYS, operator)}; all operators: window"
            f" {count(code, start, EVENT_DAYS)})"
        )
    for code, factor in DEGRADED_COMMUNES.items():
        lines.append(
            f"- degraded: {name[code]} (every window download x{factor};"
            f" baseline {count(code, base_start, 28)}, window {count(code, start, EVENT_DAYS)})"
        )
    return lines


def readme_text(world: World, files: Sequence[SampleFile], overlap: Sequence[Row]) -> str:
    by_name = {f.name: f for f in files}
    late = sum(r.test.utc >= datetime(2025, 10, 31, 17, tzinfo=UTC) for r in overlap)
    shared = {id(r) for r in overlap}
    rows10, rows11 = (
        [n for n, r in enumerate(by_name[name].rows, start=2) if id(r) in shared]
        for name in ("rtr_2025-10.csv", "rtr_2025-11.csv")
    )
    parts = [
        "# Sample data (synthetic)",
        "",
        "Everything here is **synthetic** and generated by `scripts/make_samples.py`.",
        "Never edit these files by hand. To regenerate them (byte-identical output):",
        "",
        "    python scripts/make_samples.py --out data/samples",
        "",
        "Row numbers below count the header as row 1 (that is, the physical line number).",
        "",
        "## Files",
        "",
        f"- `province.geojson`: the fictional province {PROVINCE_NAME} (code {PROVINCE_ID}):"
        " 30 communes (`id` 99001-99030, 26 Xã and 4 Phường) as Polygons whose shared borders"
        " coincide exactly. Properties: `id`, `name`, `type`, `population`, `area` (km²),"
        " `provinceId`, `provinceName`.",
        "- `ispeed_2025-09.csv`, `ispeed_2025-10.csv`: i-Speed app per-test exports in the"
        " Vietnamese Excel style: UTF-8 with BOM, `;`, decimal comma, CRLF, local time"
        " (UTC+7) `dd/mm/yyyy HH:MM:SS`, and inconsistent operator and technology names."
        " `MCC-MNC` is empty on about 10% of rows. A few tests fall on the 1st at 00:00-06:59"
        " local time, which is still the previous month in UTC.",
        "- `rtr_2025-10.csv`, `rtr_2025-11.csv`: RTR-NetTest open-data style: UTF-8, `,`, LF,"
        " `time_utc` in UTC, speeds in kbit/s. `rtr_2025-10.csv` has tests at UTC 2025-09-30"
        f" 18:xx (local October) and {late} tests at UTC 2025-10-31 17:00-23:59 (local November).",
        "- `ispeed_2025-11.csv`: a partial i-Speed export of local 1-8 November"
        f" ({ISPEED11_TESTS} tests at the usual daily rate), in the same style, without bad"
        " rows; see *The storm* below.",
        "- `2025-10-01_performance_mobile_tiles.parquet`: Ookla open-data style mobile tiles for"
        f" 2025 Q4: {N_TILES} zoom-16 tiles whose centre is in the province (`tile_x`/`tile_y` ="
        " centre lon/lat). There are no tiles in the empty or thin communes. No bad rows.",
        f"- `{WORKBOOK}`: {WORKBOOK_TESTS} i-Speed tests of January 2026 as an Excel report:"
        " a merged title row and a date row above the header (row 4), speeds stored as text"
        " with decimal commas, times as Excel dates (every third a bare serial number), a"
        " totals row (`Tổng cộng`, rejected as `totals_row`) and an empty, formatted area"
        " below the data. Planted faults (sheet rows): "
        + ", ".join(f"{row} `{why}`" for row, why in sorted(WORKBOOK_FAULTS.items()))
        + f", {4 + WORKBOOK_TESTS + 1} `totals_row`.",
        "",
        "## Planted bad rows",
        "",
        "There is one fault per row. The verdicts are the reject reasons of"
        " `qostool.schema.Reason`, and `duplicate` means the line is dropped as a duplicate.",
    ]
    for sample in files:
        if sample.name.endswith(".csv") and any(row.fault for row in sample.rows):
            parts += ["", f"### `{sample.name}`", "", *fault_table(sample)]
    parts += [
        "",
        "## Overlaps",
        "",
        f"- `rtr_2025-11.csv` repeats {len(overlap)} rows of `rtr_2025-10.csv` exactly (same"
        f" `open_test_uuid`, byte-identical lines): the {late} tests at UTC 2025-10-31 17:00 or"
        f" later, plus {len(overlap) - late} earlier October tests. Each must be counted once."
        f" Rows in `rtr_2025-10.csv`: {number_ranges(rows10)}. The same rows in"
        f" `rtr_2025-11.csv`: {number_ranges(rows11)}.",
        "- In each i-Speed file, one line duplicates an earlier line exactly (see above).",
        "",
        "## What to expect after ingesting (by local month, Asia/Ho_Chi_Minh)",
        "",
        *expectations(world, files),
        "",
        "## The storm (`qostool event --from 2025-11-06 --to 2025-11-08`)",
        "",
        *storm_expectations(world, files),
        "",
    ]
    return "\n".join(parts)


# --- The workbook -------------------------------------------------------------------------------
WORKBOOK = "ispeed_2026-01.xlsx"
WORKBOOK_TESTS = 300
#: Sheet rows (the header is row 4) of the planted faults of the workbook, and their verdicts.
WORKBOOK_FAULTS = {57: "invalid_speed", 180: "missing_coordinates"}
_SERIAL_EPOCH = datetime(1899, 12, 30)


def write_workbook(path: Path, world: World) -> int:
    """An i-Speed export as a VNNIC-style Excel report (see the README's section on it).

    Two title rows (the first a merged cell) and a blank row above the header,
    speeds stored as text with decimal commas, times as Excel dates (every
    third one a bare serial number), a totals row and an empty, formatted area
    below the data. Returns its number of data rows (the totals row included).
    """
    import xlsxwriter

    devices = make_devices(rng_for("workbook-devices"), 60, "ispeed")
    rng = rng_for("workbook-2026-01")
    times = local_times(rng, month_start("2026-01"), month_days("2026-01"), WORKBOOK_TESTS)
    tests = sorted(busy_tests(rng, world, devices, times), key=lambda t: t.utc)
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": datetime(2026, 1, 5, 8, 0)})  # the same bytes every time
    sheet = book.add_worksheet("Dữ liệu")
    bold = book.add_format({"bold": True, "align": "center"})
    as_date = book.add_format({"num_format": "dd/mm/yyyy hh:mm:ss"})
    width = len(ISPEED_HEADER)
    sheet.merge_range(0, 0, 0, width - 1, f"KẾT QUẢ ĐO TỐC ĐỘ - {PROVINCE_NAME.upper()}", bold)
    sheet.write(1, 0, "Kỳ báo cáo: tháng 01/2026 - Ngày xuất: 05/02/2026")
    sheet.write_row(3, 0, ISPEED_HEADER, bold)
    for i, test in enumerate(tests):
        row = 4 + i
        fields = ispeed_fields(test, f"WB{i + 1:05d}")
        local = test.utc.astimezone(ICT).replace(tzinfo=None)
        sheet.write_string(row, 0, fields[0])
        if i % 3 == 2:  # a serial number that was never formatted as a date
            sheet.write_number(row, 1, round((local - _SERIAL_EPOCH) / timedelta(days=1), 8))
        else:
            sheet.write_datetime(row, 1, local, as_date)
        if WORKBOOK_FAULTS.get(row + 1) != "missing_coordinates":
            sheet.write_number(row, 2, round(test.lat, COORD_DECIMALS))
            sheet.write_number(row, 3, round(test.lon, COORD_DECIMALS))
        sheet.write_string(row, 4, fields[4])
        sheet.write_string(row, 5, fields[5])
        download = "n/d" if WORKBOOK_FAULTS.get(row + 1) == "invalid_speed" else fields[6]
        sheet.write_string(row, 6, download)  # numbers stored as text, with decimal commas
        sheet.write_string(row, 7, fields[7])
        sheet.write_number(row, 8, int(fields[8]))
        sheet.write_string(row, 9, fields[9])
        if fields[10]:
            sheet.write_string(row, 10, fields[10])
    last = 4 + len(tests)
    sheet.merge_range(last, 0, last, 3, "Tổng cộng", bold)
    sheet.write_formula(last, 8, f"=SUM(I5:I{last})", None, sum(round(t.latency) for t in tests))
    shaded = book.add_format({"bg_color": "#DDEBF7", "border": 1})
    for row in range(last + 1, last + 20):
        for column in range(width + 2):
            sheet.write_blank(row, column, None, shaded)
    book.close()
    return len(tests) + 1


# --- Main ---------------------------------------------------------------------------------------
def build_files(world: World) -> tuple[list[SampleFile], list[Row]]:
    ispeed_devices = make_devices(rng_for("ispeed-devices"), N_ISPEED_DEVICES, "ispeed")
    rtr_devices = make_devices(rng_for("rtr-devices"), N_RTR_DEVICES, "rtr")
    files = []
    for month in MONTHS[:2]:
        rng = rng_for(f"ispeed-faults-{month}")
        rows = plant_faults(
            rng, world, ispeed_devices, ispeed_tests(world, ispeed_devices, month), ISPEED_FAULTS
        )
        files.append(SampleFile(f"ispeed_{month}.csv", render_ispeed(rows, month)))
    rng = rng_for("rtr-faults-2025-10")
    rows10 = plant_faults(rng, world, rtr_devices, rtr10_tests(world, rtr_devices), RTR_FAULTS)
    rows10 = render_rtr(rows10, rng)
    overlap = rtr_overlap(rng, rows10)
    rng = rng_for("rtr-faults-2025-11")
    rows11 = plant_faults(rng, world, rtr_devices, rtr11_tests(world, rtr_devices), RTR_FAULTS)
    rows11 = sorted(overlap + render_rtr(rows11, rng), key=lambda r: r.test.utc)
    files += [SampleFile("rtr_2025-10.csv", rows10), SampleFile("rtr_2025-11.csv", rows11)]
    rows = [Row(t) for t in ispeed11_tests(world, ispeed_devices)]
    files.append(SampleFile("ispeed_2025-11.csv", render_ispeed(rows, "2025-11", duplicate=False)))
    return files, overlap


def write_samples(out: Path) -> dict[str, int]:
    """Write every sample file into ``out``; returns the data-row count per file."""
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(build_province(rng_for("province")))
    (out / "province.geojson").write_bytes(province_geojson(world.communes).encode())
    files, overlap = build_files(world)
    for sample in files:
        ispeed = sample.name.startswith("ispeed")
        header = ISPEED_HEADER if ispeed else RTR_HEADER
        data = csv_bytes(
            header, sample.rows, ";" if ispeed else ",", "\r\n" if ispeed else "\n", ispeed
        )
        (out / sample.name).write_bytes(data)
    tiles = ookla_tiles(world)
    tiles.write_parquet(
        out / "2025-10-01_performance_mobile_tiles.parquet", compression="zstd", statistics=False
    )
    workbook_rows = write_workbook(out / WORKBOOK, world)
    (out / "README.md").write_bytes(readme_text(world, files, overlap).encode())
    counts = {f.name: len(f.rows) for f in files}
    counts[WORKBOOK] = workbook_rows
    counts["province.geojson"] = len(world.communes)
    counts["2025-10-01_performance_mobile_tiles.parquet"] = tiles.height
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate data/samples/ deterministically.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    for name, count in sorted(write_samples(args.out).items()):
        print(f"{name}: {count} records ({(args.out / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
