"""Student's t and normal quantiles, checked against SciPy's (an independent implementation)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import special

from qostool.analyze import tdist

#: Every small number of degrees of freedom, both sides of the switch to the expansion,
#: and very large ones (a province's month).
DOF = np.concatenate(
    [np.arange(1, 2_500), [tdist.ASYMPTOTIC_DOF - 1, tdist.ASYMPTOTIC_DOF, 10**4, 10**5, 10**7]]
).astype(np.float64)


@pytest.mark.parametrize("p", [0.5, 0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995, 0.025, 0.1])
def test_t_quantiles_match_scipy(p: float) -> None:
    got = tdist.t_quantiles(p, DOF)
    expected = special.stdtrit(DOF, p)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_missing_and_too_few_degrees_of_freedom_give_nan() -> None:
    got = tdist.t_quantiles(0.975, np.array([np.nan, 0.0, 1.0, 30.0]))
    assert np.isnan(got[:2]).all()
    np.testing.assert_allclose(got[2:], special.stdtrit([1.0, 30.0], 0.975), rtol=1e-12)
    assert tdist.t_quantiles(0.975, np.array([np.nan])).shape == (1,)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        tdist.t_quantiles(1.0, np.array([5.0]))
    with pytest.raises(ValueError, match="whole numbers"):
        tdist.t_quantiles(0.9, np.array([2.5]))


def test_normal_quantile_matches_scipy() -> None:
    for p in (0.5, 0.8, 0.9, 0.975, 0.995, 1e-6):
        assert tdist.normal_quantile(p) == pytest.approx(float(special.ndtri(p)), rel=1e-13)


def test_statistics_do_not_load_scipy() -> None:
    """SciPy's import costs about a quarter of a second of every analysis."""
    code = (
        "import sys\n"
        "from qostool.analyze.rules import Rule\n"
        "from qostool.analyze.stats import statistics\n"
        "import polars as pl\n"
        "tests = pl.DataFrame({'commune_code': ['1'] * 4, 'operator': ['Viettel'] * 4,\n"
        "    'technology': ['4G'] * 4, 'download_mbps': [30.0, 45.5, 52.0, 38.0],\n"
        "    'upload_mbps': [9.0] * 4, 'latency_ms': [20.0] * 4, 'device_id': list('abcd'),\n"
        "    'weight': [1] * 4, 'aggregate': [False] * 4,\n"
        "    'devices': pl.Series([None] * 4, dtype=pl.Int64), 'peak': [False] * 4})\n"
        "stats = statistics(tests.lazy(), Rule(min_tests=4))\n"
        "assert stats['download_mean_ci_low'].drop_nulls().len() > 0\n"
        "print(sorted(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
