"""Quantiles of Student's t distribution for whole numbers of degrees of freedom.

The confidence interval of a mean needs ``t(p, n - 1)`` for each distinct number
of tests ``n``. SciPy computes it, but importing ``scipy.special`` takes about a
quarter of a second, a tenth of a whole ``analyze`` of a million tests. The
degrees of freedom here are whole numbers, for which the distribution function
has a short exact form, so the quantiles are computed here instead, to within a
few units in the last place of SciPy's (a test compares them):

* from about 1,000 degrees of freedom up, the Cornish-Fisher expansion in ``1/dof``
  (Abramowitz and Stegun 26.7.5, four terms) is exact to double precision;
* below, Newton's method on the exact distribution function (Abramowitz and
  Stegun 26.7.3 and 26.7.4: a finite sum in ``cos(theta)``, ``tan(theta) = t/sqrt(dof)``),
  started from the expansion.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Final

import numpy as np

#: From here on the four-term expansion is used as it is.
ASYMPTOTIC_DOF: Final = 1000
_NEWTON_STEPS: Final = 40


def normal_quantile(p: float) -> float:
    """The standard normal quantile of ``p`` (0 < p < 1)."""
    return NormalDist().inv_cdf(p)


def t_quantiles(p: float, dof: np.ndarray) -> np.ndarray:
    """``t`` with ``P(T <= t) = p`` for each entry of ``dof``; NaN where ``dof`` is NaN or < 1.

    ``dof`` holds whole numbers (as floats, so that missing ones can be NaN).
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be between 0 and 1, not {p}")
    dof = np.asarray(dof, dtype=np.float64)
    out = np.full(dof.shape, np.nan)
    valid = np.isfinite(dof) & (dof >= 1)
    if not valid.any():
        return out
    distinct, where = np.unique(dof[valid], return_inverse=True)
    if np.any(distinct != np.floor(distinct)):
        raise ValueError("degrees of freedom must be whole numbers")
    upper = _upper_quantiles(max(p, 1 - p), distinct)
    out[valid] = (upper if p >= 0.5 else -upper)[where]
    return out


def _upper_quantiles(p: float, nu: np.ndarray) -> np.ndarray:
    """Quantiles for ``p >= 0.5`` and distinct whole ``nu >= 1``."""
    if p == 0.5:
        return np.zeros_like(nu)
    t = _cornish_fisher(normal_quantile(p), nu)
    exact = nu < ASYMPTOTIC_DOF
    if exact.any():
        small = nu[exact]
        guess = np.maximum(t[exact], 0.0)
        t[exact] = _newton(p, small, guess)
    return t


def _cornish_fisher(z: float, nu: np.ndarray) -> np.ndarray:
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / nu + g2 / nu**2 + g3 / nu**3 + g4 / nu**4


def _newton(p: float, nu: np.ndarray, t: np.ndarray) -> np.ndarray:
    # Closed forms for one and two degrees of freedom.
    t = np.where(nu == 1, math.tan(math.pi * (p - 0.5)), t)
    q = 2 * p - 1
    t = np.where(nu == 2, q * math.sqrt(2 / (1 - q * q)), t)
    todo = nu > 2
    if not todo.any():
        return t
    n, x = nu[todo], t[todo]
    log_scale = np.array([math.lgamma((v + 1) / 2) - math.lgamma(v / 2) for v in n])
    log_scale -= 0.5 * np.log(n * math.pi)
    active = np.arange(n.size)  # entries still moving: the others are left alone
    for _ in range(_NEWTON_STEPS):
        na, xa = n[active], x[active]
        density = np.exp(log_scale[active] - (na + 1) / 2 * np.log1p(xa * xa / na))
        step = (_cdf(xa, na) - p) / density
        x[active] = xa - step
        # Newton halves the digits left wrong: after a step this small, none are.
        active = active[np.abs(step) > 1e-10 * np.maximum(1.0, np.abs(xa))]
        if not active.size:
            break
    t[todo] = x
    return t


def _cdf(t: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """``P(T <= t)`` for ``t >= 0`` and whole ``nu >= 3`` (A&S 26.7.3, 26.7.4)."""
    theta = np.arctan(t / np.sqrt(nu))
    sin, cos = np.sin(theta), np.cos(theta)
    c2 = cos * cos
    odd = nu % 2 == 1
    # The sum runs over k = 0 .. terms: (nu - 3) / 2 for odd nu, (nu - 2) / 2 for even.
    terms = np.where(odd, (nu - 3) / 2, (nu - 2) / 2)
    total = np.ones_like(t)
    term = np.ones_like(t)
    for k in range(1, int(terms.max()) + 1):
        ratio = np.where(odd, 2 * k / (2 * k + 1), (2 * k - 1) / (2 * k))
        term = term * ratio * c2
        total = total + np.where(k <= terms, term, 0.0)
    inside: np.ndarray = np.where(odd, (2 / math.pi) * (theta + sin * cos * total), sin * total)
    return 0.5 + inside / 2
