"""seqlab.stats: Student-t quantiles (no scipy) and the mean ± t-interval over seeds."""

from __future__ import annotations

import math

import pytest

from seqlab.stats import interval, t_quantile, t_two_sided

#: t_{0.975, ν} from printed tables (e.g. NIST/SEMATECH e-Handbook, Table 1.3.6.7.2), to the table's 3 decimals
PUBLISHED_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    9: 2.262,
    10: 2.228,
    29: 2.045,
    30: 2.042,
    60: 2.000,
    100: 1.984,
}


@pytest.mark.parametrize(("dof", "expected"), sorted(PUBLISHED_T975.items()))
def test_t_quantile_matches_the_published_table(dof, expected):
    assert round(t_quantile(0.975, dof), 3) == expected


def test_t_quantile_closed_forms_symmetry_and_the_normal_limit():
    # ν = 1 is the Cauchy distribution: t_q = tan(π (q − 1/2)); ν = 2: t_q = (2q − 1) / √(2 q (1 − q))
    for q in (0.6, 0.9, 0.975, 0.995):
        assert t_quantile(q, 1) == pytest.approx(math.tan(math.pi * (q - 0.5)), rel=1e-12)
        assert t_quantile(q, 2) == pytest.approx((2 * q - 1) / math.sqrt(2 * q * (1 - q)), rel=1e-12)
        assert t_quantile(1 - q, 7) == pytest.approx(-t_quantile(q, 7), rel=1e-12)
    assert t_quantile(0.5, 3) == 0.0
    z = 1.959963985  # the normal 0.975-quantile; t ≈ z + (z³ + z) / (4ν) for large ν (next term: ~1e-7 at 5000)
    assert t_quantile(0.975, 5000) == pytest.approx(z + (z**3 + z) / 20000, abs=1e-6)
    for dof in (1, 2, 3, 8, 31):  # the quantile inverts the distribution function
        assert t_two_sided(t_quantile(0.975, dof), dof) == pytest.approx(0.95, abs=1e-12)


def test_t_quantile_agrees_with_scipy_where_it_is_installed():
    stats = pytest.importorskip("scipy.stats")
    for dof in [*range(1, 41), 57, 120, 1000]:
        for q in (0.55, 0.9, 0.975, 0.995, 0.025):
            assert t_quantile(q, dof) == pytest.approx(float(stats.t.ppf(q, dof)), rel=1e-9)


def test_interval_is_mean_plus_minus_t_times_standard_error():
    values = [0.80, 0.86, 0.83, 0.90]
    stat = interval(values)
    mean = sum(values) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
    assert stat.n == 4 and stat.mean == pytest.approx(0.8475)
    assert stat.std == pytest.approx(std)
    assert stat.half_width == pytest.approx(3.182446 * std / 2, rel=1e-6)  # t_{0.975,3} · s / √4
    assert (stat.low, stat.high) == pytest.approx((0.8475 - stat.half_width, 0.8475 + stat.half_width))
    assert interval([1.0, 2.0, 3.0]).half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert interval([1.0, 2.0, 3.0], confidence=0.99).half_width == pytest.approx(9.924843 / math.sqrt(3), rel=1e-6)


def test_one_value_has_no_interval_and_bad_input_is_refused():
    single = interval([0.5])
    assert (single.mean, single.n, single.std, single.half_width, single.low, single.high) == (
        0.5,
        1,
        None,
        None,
        None,
        None,
    )
    assert interval([2.0, 2.0]).half_width == 0.0
    assert math.isnan(interval([1.0, math.inf]).half_width)  # a diverged seed is not silently dropped
    with pytest.raises(ValueError, match="no values"):
        interval([])
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile(0.975, 0)
    with pytest.raises(ValueError, match="quantile level"):
        t_quantile(1.0, 3)
