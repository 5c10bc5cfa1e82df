"""Statistics and verdicts, each checked against a second, independent computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats as sps

from qostool.analyze import stats as stats_module
from qostool.analyze.rules import Rule, Statistic, Verdict, parse_targets
from qostool.analyze.stats import (
    add_history,
    dedupe_bursts,
    statistics,
    with_data_period,
    zero_rows,
)
from qostool.errors import UsageError

T0 = datetime(2025, 10, 10, 5, 0, tzinfo=UTC)


def frame(
    download: list[float],
    *,
    commune: str = "99001",
    operator: str = "Viettel",
    technology: str = "4G",
    weight: list[int] | None = None,
    devices: list[str | None] | None = None,
    upload: list[float | None] | None = None,
    latency: list[float | None] | None = None,
    peak: list[bool] | None = None,
) -> pl.DataFrame:
    n = len(download)
    weight = weight or [1] * n
    return pl.DataFrame(
        {
            "commune_code": [commune] * n,
            "operator": [operator] * n,
            "technology": [technology] * n,
            "download_mbps": download,
            "upload_mbps": upload or [d / 3 for d in download],
            "latency_ms": latency or [20.0 + i for i in range(n)],
            "device_id": devices or [f"d{i}" for i in range(n)],
            "weight": weight,
            "aggregate": [w > 1 for w in weight],
            "devices": [w // 2 if w > 1 else None for w in weight],
            "peak": peak or [i % 4 == 0 for i in range(n)],
        },
        schema_overrides={"devices": pl.Int64, "upload_mbps": pl.Float64},
    )


def row(stats: pl.DataFrame, level: str, technology: str = "4G", **keys: str) -> dict:
    selected = stats.filter(pl.col("level") == level, pl.col("technology") == technology)
    for key, value in keys.items():
        selected = selected.filter(pl.col(key) == value)
    assert selected.height == 1, selected
    return selected.row(0, named=True)


def unit_level_interval(
    values: list[float], weights: list[int], confidence: float
) -> tuple[float, float]:
    """The interval from its definition, with matrices over the individual tests.

    Each cluster (a tile of ``w`` tests, or one single test) is expanded to its
    tests, all at the cluster's mean (the cluster's score does not depend on how
    its tests spread around it). CR2: each cluster's residuals are multiplied by
    ``(I - H_gg)^(-1/2)``, computed numerically; the degrees of freedom are
    Satterthwaite's for the resulting quadratic form under independent tests
    (Bell and McCaffrey), from the eigenvalues of the G x G matrix.
    """
    y = np.repeat(np.asarray(values, dtype=float), weights)
    cluster = np.repeat(np.arange(len(values)), weights)
    n = len(y)
    hat = np.full((n, n), 1 / n)
    residual = (np.eye(n) - hat) @ y
    columns = []
    for g in range(len(values)):
        rows = np.flatnonzero(cluster == g)
        block = np.eye(len(rows)) - hat[np.ix_(rows, rows)]
        eigenvalues, vectors = np.linalg.eigh(block)
        inverse_root = vectors @ np.diag(eigenvalues**-0.5) @ vectors.T
        selector = np.zeros((n, len(rows)))
        selector[rows, np.arange(len(rows))] = 1
        columns.append((np.eye(n) - hat) @ selector @ inverse_root @ np.ones(len(rows)) / n)
    psi = np.column_stack(columns)
    variance = float(sum((column @ y) ** 2 for column in columns))
    assert variance == pytest.approx(float(((psi.T @ residual) ** 2).sum()))
    gram = psi.T @ psi
    dof = np.floor(np.trace(gram) ** 2 / np.trace(gram @ gram) + 1e-9)
    mean = y.mean()
    half = sps.t.ppf(0.5 + confidence / 2, dof) * variance**0.5 / mean
    return mean * np.exp(-half), mean * np.exp(half)


def cluster_interval(
    values: np.ndarray, weights: np.ndarray, confidence: float
) -> tuple[float | None, float | None]:
    """The same interval from the per-cluster closed forms, cluster by cluster in numpy."""
    if len(values) < 2:
        return None, None
    total = weights.sum()
    mean = float((weights * values).sum() / total)
    h = weights / total
    r = h / (1 - h)
    variance = float((weights**2 * (values - mean) ** 2 / (1 - h)).sum()) / total**2
    dof = np.floor(1 / ((r**2 * (1 - 2 * h)).sum() + (h * r).sum() ** 2) + 1e-9)
    if variance == 0:
        return mean, mean
    half = sps.t.ppf(0.5 + confidence / 2, dof) * variance**0.5 / mean
    return mean * np.exp(-half), mean * np.exp(half)


def test_closed_forms_equal_the_unit_level_definition() -> None:
    rng = np.random.default_rng(5)
    for clusters in (2, 3, 5, 12):
        for _ in range(4):
            weights = rng.integers(1, 25, clusters)
            weights[rng.random(clusters) < 0.4] = 1  # some single tests among the tiles
            values = rng.lognormal(3.5, 0.6, clusters)
            expected = unit_level_interval(values.tolist(), weights.tolist(), 0.9)
            got = cluster_interval(values, weights.astype(float), 0.9)
            assert got == pytest.approx(expected, rel=1e-9), (weights, values)


def test_single_tests_match_numpy_and_scipy() -> None:
    rng = np.random.default_rng(7)
    values = np.round(rng.lognormal(3.6, 0.6, 57), 3)
    data = frame(values.tolist())
    result = row(statistics(data.lazy(), Rule()), "commune_operator")
    assert result["tests"] == 57
    assert result["devices_min"] == result["devices_max"] == 57
    assert result["download_mean_mbps"] == pytest.approx(values.mean(), rel=1e-12)
    assert result["download_median_mbps"] == pytest.approx(np.median(values), rel=1e-12)
    assert result["download_p10_mbps"] == pytest.approx(np.percentile(values, 10), rel=1e-12)
    assert result["download_p90_mbps"] == pytest.approx(np.percentile(values, 90), rel=1e-12)
    assert result["share_ge_target"] == pytest.approx((values >= 40).mean())
    # Single tests only: the textbook standard error s / sqrt(n) and n - 1 degrees of
    # freedom, on the log scale of the mean and transformed back.
    half = sps.t.ppf(0.975, len(values) - 1) * sps.sem(values) / values.mean()
    assert result["download_mean_ci_low"] == pytest.approx(values.mean() * np.exp(-half), rel=1e-9)
    assert result["download_mean_ci_high"] == pytest.approx(values.mean() * np.exp(half), rel=1e-9)
    assert result["upload_mean_mbps"] == pytest.approx((values / 3).mean())
    assert result["latency_median_ms"] == pytest.approx(np.median(20.0 + np.arange(57)))
    peak = values[np.arange(57) % 4 == 0]
    assert result["peak_download_mean_mbps"] == pytest.approx(peak.mean())
    assert result["peak_tests"] == len(peak)


def test_tiles_weight_means_and_never_give_percentiles() -> None:
    singles = frame([10.0, 20.0, 30.0], devices=["a", "b", "a"])
    tiles = frame([50.0, 80.0], weight=[10, 4])
    result = row(statistics(pl.concat([singles, tiles]).lazy(), Rule(min_tests=17)), "commune")
    assert result["tests"] == 3 + 14
    assert result["tile_tests"] == 14
    # Distinct single devices, plus the largest tile's (at least) or every tile's (at most).
    assert result["devices_min"] == 2 + 5
    assert result["devices_max"] == 2 + (5 + 2)
    expected_mean = (10 + 20 + 30 + 50 * 10 + 80 * 4) / 17
    assert result["download_mean_mbps"] == pytest.approx(expected_mean)
    # Percentiles and shares come from the single tests only.
    assert result["download_median_mbps"] == 20.0
    assert result["share_ge_target"] == 0.0
    # Five clusters (three single tests, two tiles): the unit-level CR2 computation.
    low, high = unit_level_interval([10, 20, 30, 50, 80.0], [1, 1, 1, 10, 4], 0.95)
    assert result["download_mean_ci_low"] == pytest.approx(low, rel=1e-9)
    assert result["download_mean_ci_high"] == pytest.approx(high, rel=1e-9)
    assert 0 < low < expected_mean < high
    # One test fewer than the minimum: no interval at all.
    fewer = row(statistics(pl.concat([singles, tiles]).lazy(), Rule(min_tests=18)), "commune")
    assert fewer["download_mean_ci_low"] is None and fewer["download_mean_ci_high"] is None
    assert fewer["statistic_ci_low"] is None and fewer["verdict"] == Verdict.INSUFFICIENT


def test_tiles_only_group_has_null_percentiles_not_invented_ones() -> None:
    result = row(statistics(frame([50.0, 70.0], weight=[40, 60]).lazy(), Rule()), "commune")
    assert result["download_mean_mbps"] == pytest.approx((50 * 40 + 70 * 60) / 100)
    for column in ("download_median_mbps", "download_p10_mbps", "share_ge_target"):
        assert result[column] is None
    assert result["peak_download_mean_mbps"] is None


def test_verdicts_at_the_edges() -> None:
    rule = Rule(min_tests=5, min_devices=3)
    exactly = frame([40.0] * 6, commune="A")  # zero spread, mean == target: meets
    few = frame([90.0] * 4, commune="B")  # too few tests
    one_device = frame([90.0] * 8, commune="C", devices=["x"] * 8)
    straddle = frame([20.0, 60.0, 30.0, 55.0, 41.0, 39.0], commune="D")
    below = frame([10.0, 11.0, 12.0, 13.0, 12.5, 11.5], commune="E")
    above = frame([80.0, 81.0, 82.0, 79.0, 80.5, 81.5], commune="F")
    data = pl.concat([exactly, few, one_device, straddle, below, above])
    stats = statistics(data.lazy(), rule)
    verdict = {c: row(stats, "commune", commune_code=c)["verdict"] for c in "ABCDEF"}
    assert verdict == {
        "A": Verdict.MEETS,
        "B": Verdict.INSUFFICIENT,
        "C": Verdict.INSUFFICIENT,
        "D": Verdict.INCONCLUSIVE,
        "E": Verdict.BELOW,
        "F": Verdict.MEETS,
    }
    d = row(stats, "commune", commune_code="D")
    assert d["download_mean_ci_low"] < 40 < d["download_mean_ci_high"]


def test_technologies_without_target_get_no_verdict_and_all_excludes_wifi() -> None:
    data = pl.concat([frame([50.0] * 40, technology="4G"), frame([500.0] * 40, technology="wifi")])
    stats = statistics(data.lazy(), Rule())
    assert row(stats, "province", "wifi")["verdict"] is None
    everything = row(stats, "province", "all")
    assert everything["tests"] == 40
    assert everything["download_mean_mbps"] == pytest.approx(50.0)
    assert everything["operator"] == "all"


def test_rollups_add_up_across_levels() -> None:
    rng = np.random.default_rng(3)
    parts = []
    for commune in ("A", "B"):
        for operator in ("Viettel", "MobiFone"):
            for tech in ("4G", "5G"):
                n = int(rng.integers(5, 30))
                parts.append(
                    frame(
                        rng.uniform(5, 200, n).round(2).tolist(),
                        commune=commune,
                        operator=operator,
                        technology=tech,
                        devices=[f"{commune}{operator}{i % 7}" for i in range(n)],
                    )
                )
    data = pl.concat(parts)
    stats = statistics(data.lazy(), Rule())
    for tech in ("4G", "5G"):
        subset = data.filter(pl.col("technology") == tech)
        province = row(stats, "province", tech)
        assert province["tests"] == subset.height
        assert province["devices_min"] == province["devices_max"] == subset["device_id"].n_unique()
        assert province["download_median_mbps"] == pytest.approx(
            float(np.median(subset["download_mbps"].to_numpy()))
        )
        for operator in ("Viettel", "MobiFone"):
            mine = subset.filter(pl.col("operator") == operator)["download_mbps"].to_numpy()
            got = row(stats, "operator", tech, operator=operator)
            assert got["download_mean_mbps"] == pytest.approx(mine.mean())
            assert got["commune_code"] is None


def test_median_rule_uses_an_order_statistic_interval() -> None:
    values = list(range(1, 101))  # median 50.5
    rule = Rule(statistic=Statistic.MEDIAN, min_tests=10, min_devices=1)
    result = row(statistics(frame([float(v) for v in values]).lazy(), rule), "commune")
    assert result["statistic_value"] == 50.5
    # 1-based ranks floor(n/2 - 1.96*sqrt(n)/2) = 40 and ceil(1 + n/2 + 1.96*sqrt(n)/2) = 61.
    assert result["statistic_ci_low"] == 40.0
    assert result["statistic_ci_high"] == 61.0
    assert result["verdict"] == Verdict.MEETS


def test_share_rule_uses_a_wilson_interval() -> None:
    values = [50.0] * 45 + [10.0] * 5  # 90 % at or above 40
    rule = Rule(statistic=Statistic.SHARE, min_share=0.8, min_tests=10, min_devices=1)
    result = row(statistics(frame(values).lazy(), rule), "commune")
    assert result["statistic_value"] == pytest.approx(0.9)
    z = sps.norm.ppf(0.975)
    n, p = 50, 0.9
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert result["statistic_ci_low"] == pytest.approx(centre - half)
    assert result["statistic_ci_high"] == pytest.approx(centre + half)
    assert result["statistic_ci_low"] < 0.8 < result["statistic_ci_high"]
    assert result["verdict"] == Verdict.INCONCLUSIVE


def test_zero_rows_for_communes_without_tests() -> None:
    rows = zero_rows(["99006", "99025"], ["4G", "5G", "all"], Rule())
    assert rows.height == 6
    assert set(rows["tests"]) == {0}
    by_tech = dict(zip(rows["technology"], rows["verdict"], strict=True))
    assert by_tech == {"4G": Verdict.INSUFFICIENT, "5G": Verdict.INSUFFICIENT, "all": None}


def test_history_gives_previous_mean_and_months_in_a_row_below() -> None:
    rule = Rule(min_tests=3, min_devices=1)

    def month(values: list[float], name: str) -> pl.DataFrame:
        return with_data_period(statistics(frame(values).lazy(), rule), name)

    now = month([10.0, 11.0, 12.0], "2025-10")
    history = [
        month([12.0, 13.0, 14.0], "2025-09"),
        month([9.0, 10.0, 11.0], "2025-08"),
        month([70.0, 71.0, 72.0], "2025-07"),
    ]
    result = row(add_history(now, history), "commune")
    assert result["prev_download_mean_mbps"] == pytest.approx(13.0)
    assert result["download_mean_change_mbps"] == pytest.approx(-2.0)
    assert result["months_below_target"] == 3  # this month and the two before; then it met
    first = row(add_history(now, []), "commune")
    assert first["prev_download_mean_mbps"] is None
    assert first["months_below_target"] == 1


def test_bursts_from_one_device_count_once() -> None:
    base = pl.DataFrame(
        {
            "device_id": ["a", "a", "a", "a", "b", None, None],
            "measured_at": [
                T0,
                T0 + timedelta(minutes=30),  # same place, soon after: burst
                T0 + timedelta(hours=2, minutes=40),  # within 3 h of the previous: burst
                T0 + timedelta(hours=9),  # long after: new
                T0 + timedelta(minutes=1),  # another device
                T0,
                T0,  # no device id: always kept
            ],
            "lat": [21.0, 21.0003, 21.0, 21.0, 21.0, 21.0, 21.0],  # 0.0003 deg ~ 33 m
            "lon": [105.0] * 7,
            "aggregate": [False] * 7,
            "download_mbps": [1.0, 2, 3, 4, 5, 6, 7],
        },
        schema_overrides={"measured_at": pl.Datetime("us", "UTC")},
    )
    far = base.with_columns(lat=pl.when(pl.int_range(pl.len()) == 1).then(21.01).otherwise("lat"))
    kept, dropped = dedupe_bursts(base, hours=3, metres=100)
    assert dropped == 2
    assert kept["download_mbps"].to_list() == [1.0, 4, 5, 6, 7]
    kept_far, dropped_far = dedupe_bursts(far, hours=3, metres=100)
    assert dropped_far == 0  # 1.1 km away: a new place, and the third test is far from it too
    assert kept_far.height == 7


def test_rule_values_are_checked_with_clear_messages() -> None:
    with pytest.raises(UsageError, match="--min-share"):
        Rule(min_share=1.5)
    with pytest.raises(UsageError, match="target for 4G"):
        Rule(targets={"4G": 0})
    assert parse_targets(["5g=150"]) == {"4G": 40.0, "5G": 150.0}
    with pytest.raises(UsageError, match="TECHNOLOGY=MBPS"):
        parse_targets(["6G=1000"])
    with pytest.raises(UsageError, match="not a number"):
        parse_targets(["4G=fast"])


def mixed_frame(rows: int, seed: int, communes: int = 4) -> pl.DataFrame:
    """Several communes, operators and technologies; tiles among the tests; hex pseudonyms."""
    rng = np.random.default_rng(seed)
    tile = rng.random(rows) < 0.05
    weight = np.where(tile, rng.integers(2, 50, rows), 1)
    devices = [f"{d:016x}" for d in rng.integers(0, 2**63, max(rows // 3, 1))]
    return pl.DataFrame(
        {
            "commune_code": rng.choice([f"{10001 + i}" for i in range(communes)], rows),
            "operator": rng.choice(["Viettel", "MobiFone", "VNPT-VinaPhone"], rows),
            "technology": rng.choice(["4G", "5G", "3G", "wifi"], rows, p=[0.6, 0.2, 0.1, 0.1]),
            "download_mbps": np.round(rng.lognormal(3.6, 0.7, rows), 2),
            "upload_mbps": np.where(rng.random(rows) < 0.1, np.nan, rng.lognormal(2.5, 0.5, rows)),
            "latency_ms": np.round(rng.lognormal(3.5, 0.3, rows), 1),
            "device_id": [None if t else devices[i % len(devices)] for i, t in enumerate(tile)],
            "weight": weight,
            "aggregate": tile,
            "devices": np.where(tile, weight // 2, 0),
            "peak": rng.random(rows) < 0.2,
        }
    ).with_columns(
        pl.col("upload_mbps").fill_nan(None),
        devices=pl.when(pl.col("aggregate")).then(pl.col("devices")),
    )


def expected_group(
    rows: list[dict], target: float | None, min_tests: int = 30
) -> dict[str, float | int | None]:
    """One group's figures in plain Python and numpy, straight from the definitions."""
    singles = [r for r in rows if not r["aggregate"]]
    tiles = [r for r in rows if r["aggregate"]]
    weights = np.array([r["weight"] for r in rows], dtype=float)
    dl = np.array([r["download_mbps"] for r in rows])
    single_dl = np.array([r["download_mbps"] for r in singles])
    uploads = [(r["upload_mbps"], r["weight"]) for r in rows if r["upload_mbps"] is not None]
    peak = [r["download_mbps"] for r in singles if r["peak"]]
    low, high = cluster_interval(dl, weights, 0.95)
    return {
        "tests": int(weights.sum()),
        "tile_tests": sum(r["weight"] for r in tiles),
        "devices_min": len({r["device_id"] for r in singles})
        + max((r["devices"] for r in tiles), default=0),
        "devices_max": len({r["device_id"] for r in singles}) + sum(r["devices"] for r in tiles),
        "download_mean_mbps": float((dl * weights).sum() / weights.sum()),
        "download_median_mbps": float(np.median(single_dl)) if singles else None,
        "download_p10_mbps": float(np.percentile(single_dl, 10)) if singles else None,
        "upload_mean_mbps": sum(u * w for u, w in uploads) / sum(w for _, w in uploads),
        "latency_median_ms": float(np.median([r["latency_ms"] for r in singles])),
        "share_ge_target": None if target is None else float((single_dl >= target).mean()),
        "peak_download_mean_mbps": float(np.mean(peak)) if peak else None,
        "download_mean_ci_low": low if weights.sum() >= min_tests else None,
        "download_mean_ci_high": high if weights.sum() >= min_tests else None,
    }


def test_every_level_equals_a_plain_computation() -> None:
    data = mixed_frame(6000, seed=11)
    stats = statistics(data.lazy(), Rule())
    records = data.to_dicts()
    cellular = {"2G", "3G", "4G", "5G"}
    levels = {
        "commune_operator": ("commune_code", "operator"),
        "commune": ("commune_code",),
        "operator": ("operator",),
        "province": (),
    }
    checked = 0
    for level, keys in levels.items():
        for out in stats.filter(pl.col("level") == level).iter_rows(named=True):
            tech = out["technology"]
            rows = [
                r
                for r in records
                if all(r[k] == out[k] for k in keys)
                and (r["technology"] in cellular if tech == "all" else r["technology"] == tech)
            ]
            expected = expected_group(rows, Rule().targets.get(tech))
            for column, value in expected.items():
                if value is None:
                    assert out[column] is None, (level, column)
                else:
                    assert out[column] == pytest.approx(value, rel=1e-9), (level, keys, column)
            checked += 1
    # 4 communes x 3 operators x 4 technologies, + "all", at each level.
    assert checked == 4 * 3 * 5 + 4 * 5 + 3 * 5 + 5


def test_devices_above_the_communes_are_the_distinct_devices_of_their_tests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator and province levels' devices come from each device's (operator,
    technology) pairs, as bits: the same counts as the distinct devices of each group's
    tests, and the same table with the pairs spread over several words of bits."""
    data = mixed_frame(20_000, seed=5, communes=30).filter(~pl.col("aggregate"))
    rng = np.random.default_rng(5)
    # Devices met under several operators and technologies; some tests without one.
    device = rng.integers(0, 400, data.height).astype(str).astype(object)
    device[rng.random(data.height) < 0.05] = None
    data = data.with_columns(device_id=pl.Series(device, dtype=pl.String))
    got = statistics(data.lazy(), Rule())
    cellular = {"2G", "3G", "4G", "5G", "unknown"}
    above = got.filter(pl.col("level").is_in(["operator", "province"]))
    for out in above.iter_rows(named=True):
        tech = out["technology"]
        rows = data.filter(
            pl.col("technology").is_in(cellular) if tech == "all" else pl.col("technology") == tech,
            pl.lit(True) if out["level"] == "province" else pl.col("operator") == out["operator"],
        )
        expected = rows["device_id"].drop_nulls().n_unique()
        assert out["devices_min"] == out["devices_max"] == expected, out
    assert above.height > 10 and above["devices_min"].min() > 1
    # 4 operators (null among them) x 4 technologies: 16 pairs, 6 words of 3 bits.
    monkeypatch.setattr(stats_module, "WORD_BITS", 3)
    assert_frame_equal(statistics(data.lazy(), Rule()), got, check_exact=True)


def test_the_same_input_gives_bit_identical_statistics() -> None:
    data = mixed_frame(300_000, seed=3, communes=500).lazy()
    first = statistics(data, Rule())
    for _ in range(3):
        assert statistics(data, Rule()).equals(first)


def tiles_of(commune: str, devices: list[int], download: float = 90.0) -> pl.DataFrame:
    """Tiles of 10 tests each at ``download`` Mbps, with the given device counts."""
    n = len(devices)
    return frame([download + i for i in range(n)], commune=commune, weight=[10] * n).with_columns(
        devices=pl.Series(devices, dtype=pl.Int64), device_id=pl.lit(None, pl.String)
    )


def test_the_minimum_devices_rule_uses_the_lower_bound() -> None:
    rule = Rule(min_tests=30, min_devices=5)
    data = pl.concat(
        [
            # 15 tiles of one device each: maybe one phone; 15 only at most.
            tiles_of("A", [1] * 15),
            # Two single-test devices and a largest tile of 3: exactly 5 at least.
            frame([90.0, 91.0], commune="B", devices=["p", "q"]),
            tiles_of("B", [3, 1, 2]),
            # One device fewer at least (4), although 8 at most.
            frame([90.0, 91.0], commune="C", devices=["p", "p"]),
            tiles_of("C", [3, 2, 2]),
        ]
    )
    stats = statistics(data.lazy(), rule)
    got = {
        c: (r["devices_min"], r["devices_max"], r["verdict"])
        for c in "ABC"
        for r in [row(stats, "commune", commune_code=c)]
    }
    assert got == {
        "A": (1, 15, Verdict.INSUFFICIENT),
        "B": (5, 8, Verdict.MEETS),
        "C": (4, 8, Verdict.INSUFFICIENT),
    }
    # Coarser levels: distinct single devices once, the largest tile of the whole group.
    province = row(stats, "province")
    assert (province["devices_min"], province["devices_max"]) == (2 + 3, 2 + 15 + 6 + 7)


def test_no_interval_below_the_minimum_tests_and_none_below_zero() -> None:
    # Seven very spread tests: the symmetric t interval went far below 0.
    values = [2.0, 3.0, 5.0, 8.0, 150.0, 300.0, 1.0]
    shown = row(statistics(frame(values).lazy(), Rule(min_tests=7, min_devices=1)), "commune")
    assert 0 < shown["download_mean_ci_low"] < np.mean(values) < shown["download_mean_ci_high"]
    assert np.mean(values) - sps.t.ppf(0.975, 6) * sps.sem(values) < 0
    hidden = row(statistics(frame(values).lazy(), Rule(min_tests=8, min_devices=1)), "commune")
    for column in ("download_mean_ci_low", "download_mean_ci_high", "statistic_ci_low"):
        assert hidden[column] is None
    median = Rule(statistic=Statistic.MEDIAN, min_tests=8, min_devices=1)
    assert row(statistics(frame(values).lazy(), median), "commune")["statistic_ci_low"] is None
    # A tile of 60 tests alone is one cluster: no interval, whatever its weight, so no
    # verdict either way.
    alone = row(statistics(frame([50.0], weight=[60]).lazy(), Rule()), "commune")
    assert alone["download_mean_ci_low"] is None and alone["verdict"] == Verdict.INCONCLUSIVE


#: Tile sizes like those of Ookla's open data: half the tiles hold one test, a tenth
#: more than five, one in a hundred more than twenty-five (P(w > x) ~ x ** -1.4).
def tile_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.minimum(np.floor(rng.random(n) ** (-1 / 1.4)), 250).astype(np.int64)


def simulated_groups(
    rng: np.random.Generator, kind: str, groups: int, between: float, within: float
) -> pl.DataFrame:
    """``groups`` communes of single tests, tiles or both, around one true mean.

    Every test's log speed is ``3.5 + b + e``: ``b`` (sd ``between``) is its place,
    shared by all tests of a tile, ``e`` (sd ``within``) its own. A single test has a
    place of its own. Tiles are drawn until the commune has 30 tile tests in 3 tiles
    at least; a commune of single tests has 30 to 79, a mixed one 5 to 29 and tiles.
    """
    codes, downloads, weights = [], [], []
    for g in range(groups):
        values: list[float] = []
        sizes: list[int] = []
        if kind != "tiles":
            n = int(rng.integers(30, 80) if kind == "singles" else rng.integers(5, 30))
            values += np.exp(3.5 + rng.normal(0, between, n) + rng.normal(0, within, n)).tolist()
            sizes += [1] * n
        if kind != "singles":
            tiles: list[int] = []
            while sum(tiles) < 30 or len(tiles) < 3:
                tiles += tile_weights(rng, 1).tolist()
            for w in tiles:
                tests = np.exp(3.5 + rng.normal(0, between) + rng.normal(0, within, w))
                values.append(float(tests.mean()))
            sizes += tiles
        codes += [f"{g:05d}"] * len(values)
        downloads += values
        weights += sizes
    n = len(downloads)
    single = np.array(weights) == 1
    return pl.DataFrame(
        {
            "commune_code": codes,
            "operator": ["Viettel"] * n,
            "technology": ["4G"] * n,
            "download_mbps": downloads,
            "upload_mbps": [None] * n,
            "latency_ms": [None] * n,
            "device_id": [f"d{i}" if s else None for i, s in enumerate(single)],
            "weight": weights,
            "aggregate": ~single,
            "devices": [None if s else 1 for s in single],
            "peak": [False] * n,
        },
        schema_overrides={"upload_mbps": pl.Float64, "latency_ms": pl.Float64},
    )


@pytest.mark.parametrize("kind", ["singles", "tiles", "mixed"])
def test_95_percent_intervals_cover_the_true_mean(kind: str) -> None:
    """Monte Carlo: 2,000 communes with between-tile spread, fixed seed.

    The true mean of a test is ``exp(3.5 + (between**2 + within**2) / 2)``. The
    former interval, which took every test of a tile for an independent draw, is
    computed from the same communes to show that the check can fail.
    """
    between, within = 0.4, 0.5
    rng = np.random.default_rng({"singles": 1, "tiles": 2, "mixed": 3}[kind])
    data = simulated_groups(rng, kind, 2000, between, within)
    truth = np.exp(3.5 + (between**2 + within**2) / 2)
    rule = Rule(min_tests=30, min_devices=0)
    rows = statistics(data.lazy(), rule).filter(
        pl.col("level") == "commune", pl.col("technology") == "4G"
    )
    assert rows.height == 2000 and rows["download_mean_ci_low"].null_count() == 0
    low, high = rows["download_mean_ci_low"].to_numpy(), rows["download_mean_ci_high"].to_numpy()
    coverage = float(((low <= truth) & (truth <= high)).mean())
    assert coverage >= 0.93, coverage
    assert (low > 0).all()
    if kind != "singles":
        naive = data.group_by("commune_code").agg(
            m=(pl.col("download_mbps") * pl.col("weight")).sum() / pl.col("weight").sum(),
            w=pl.col("weight").sum(),
            k=pl.len(),
            x=pl.col("download_mbps"),
            ws=pl.col("weight"),
        )
        hits = 0
        for _, m, w, k, x, ws in naive.iter_rows():
            ss = sum(wi * (xi - m) ** 2 for xi, wi in zip(x, ws, strict=True))
            half = sps.t.ppf(0.975, k - 1) * (ss / (k - 1) / w) ** 0.5
            hits += m - half <= truth <= m + half
        assert hits / naive.height < 0.9
