"""Means over seeds with Student-t confidence intervals, without scipy. For n values x_i (one per seed) the interval is

    mean ± t_{(1+c)/2, n-1} · s / √n,      s² = Σ (x_i − mean)² / (n − 1),

with t_{q, ν} the q-quantile of Student's t with ν = n − 1 degrees of freedom, c the confidence (0.95 by default),
found by bisection on the exact distribution function for integer ν (Abramowitz & Stegun 26.7.3/4): with
θ = atan(t/√ν), the two-sided probability A(t|ν) = P(|T| ≤ t) is

    ν odd:  A = (2/π) [θ + sin θ (cos θ + (2/3) cos³ θ + … + (2·4···(ν−3))/(1·3···(ν−2)) cos^{ν−2} θ)]   (ν = 1: 2θ/π)
    ν even: A = sin θ [1 + (1/2) cos² θ + (1·3)/(2·4) cos⁴ θ + … + (1·3···(ν−3))/(2·4···(ν−2)) cos^{ν−2} θ]

>>> round(t_quantile(0.975, 1), 3), round(t_quantile(0.975, 2), 3), round(t_quantile(0.975, 4), 3)
(12.706, 4.303, 2.776)
>>> interval([1.0, 2.0, 3.0]).half_width == t_quantile(0.975, 2) / 3 ** 0.5
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def t_two_sided(t: float, dof: int) -> float:
    """P(|T| ≤ t) for Student's t with ``dof`` (a positive integer) degrees of freedom (A&S 26.7.3/26.7.4)."""
    if dof < 1 or int(dof) != dof:
        raise ValueError(f"degrees of freedom must be a positive integer, got {dof}")
    return two_sided_of_angle(math.atan(abs(t) / math.sqrt(dof)), int(dof))


def two_sided_of_angle(theta: float, dof: int) -> float:
    """A(t|ν) written in θ = atan(t/√ν); the series of :func:`t_two_sided`."""
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if dof % 2 == 1:
        if dof == 1:
            return 2 * theta / math.pi
        term = total = math.cos(theta)  # cos θ, then each term × (2k)/(2k+1) · cos² θ
        for k in range(1, (dof - 1) // 2):
            term *= (2 * k) / (2 * k + 1) * cos2
            total += term
        return 2 / math.pi * (theta + sin * total)
    term = total = 1.0  # 1, then each term × (2k−1)/(2k) · cos² θ
    for k in range(1, dof // 2):
        term *= (2 * k - 1) / (2 * k) * cos2
        total += term
    return sin * total


def t_quantile(q: float, dof: int) -> float:
    """The q-quantile of Student's t with ``dof`` degrees of freedom, for 0 < q < 1 (bisection on
    :func:`two_sided_of_angle`, increasing in θ ∈ [0, π/2): exact to double precision)."""
    if not 0 < q < 1:
        raise ValueError(f"quantile level must be in (0, 1), got {q}")
    if dof < 1 or int(dof) != dof:
        raise ValueError(f"degrees of freedom must be a positive integer, got {dof}")
    if q == 0.5:
        return 0.0
    target = abs(2 * q - 1)  # P(|T| ≤ t) for the upper quantile
    low, high = 0.0, math.pi / 2
    for _ in range(200):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        if two_sided_of_angle(mid, int(dof)) < target:
            low = mid
        else:
            high = mid
    t = math.sqrt(dof) * math.tan((low + high) / 2)
    return t if q > 0.5 else -t


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with its two-sided t-interval at ``confidence``; ``half_width`` is None when n = 1."""

    mean: float
    n: int
    std: float | None  # sample standard deviation (n − 1 in the denominator); None for n = 1
    half_width: float | None
    confidence: float = 0.95

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.mean + self.half_width

    def text(self, spec: str = ".4g") -> str:
        """``"0.9123 ± 0.0345"`` (each number in the format ``spec``), or the mean alone when n = 1 (no interval)."""
        return f"{self.mean:{spec}}" + ("" if self.half_width is None else f" ± {self.half_width:{spec}}")


def interval(values: list[float], confidence: float = 0.95) -> Interval:
    """Mean ± t_{(1+c)/2, n−1} · s/√n of ``values`` (at least one). Non-finite values propagate (a diverged seed
    makes the mean inf or nan rather than being dropped)."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n == 1:
        return Interval(mean=mean, n=1, std=None, half_width=None, confidence=confidence)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
    return Interval(mean=mean, n=n, std=std, half_width=half, confidence=confidence)
