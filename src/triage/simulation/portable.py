"""exp, log, power and cos with the same bits on every x86-64 CPU, for what the simulator writes at full precision.

numpy picks a SIMD code path of its transcendental functions for the CPU when it is imported (AVX-512, AVX2 or the
baseline: `numpy.show_runtime()`), and the paths round differently: about one result in twenty differs in the last
bit between an AVX-512 Xeon and an AVX2-only EPYC. The generative model is saved at full precision
(data/simulation/generative_model.npz), so one ulp makes another file and another dvc.lock, and ulps in weights and
probabilities move the draws made from them. Rounding afterwards does not help: a value one ulp from a rounding
boundary still flips.

Here every distinct input goes through Python's decimal module instead: software arithmetic on integers, exp and ln
correctly rounded at PRECISION digits, then one correctly rounded conversion to a double. No CPU instruction choice
is involved anywhere, so the result is a function of the input alone. It costs tens of microseconds per value, so
it is for tables (ages, days, diseases, sites: thousands of distinct inputs), never per visit of a large cohort.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal

import numpy as np

PRECISION = 34  # decimal digits: far beyond a double's 17, so the final rounding to a double decides alone


def exp(values: np.ndarray | float) -> np.ndarray:
    return _elementwise(values, Decimal.exp)


def log(values: np.ndarray | float) -> np.ndarray:
    return _elementwise(values, Decimal.ln)


def power(values: np.ndarray | float, exponent: float) -> np.ndarray:
    """values ** exponent (numpy's power is dispatched like exp on AVX-512, through Intel's SVML)."""
    power_of = Decimal(float(exponent))
    return _elementwise(values, lambda x: x**power_of)


def cos(values: np.ndarray | float) -> np.ndarray:
    return _elementwise(values, _decimal_cos)


def _elementwise(values: np.ndarray | float, function: Callable[[Decimal], Decimal]) -> np.ndarray:
    """function of each distinct value, computed once, back in the input's shape."""
    array = np.asarray(values, dtype=float)
    distinct, inverse = np.unique(array.ravel(), return_inverse=True)
    with decimal.localcontext(prec=PRECISION, traps=[decimal.InvalidOperation, decimal.DivisionByZero]):
        results = np.array([float(function(Decimal(float(x)))) for x in distinct], dtype=float)
    return results[inverse].reshape(array.shape)


def _decimal_cos(x: Decimal) -> Decimal:
    """cos by its Taylor series (the decimal module's documented recipe) after reducing x to [-pi, pi], where the
    alternating terms stay below e^pi: two extra digits absorb their cancellation."""
    if not x.is_finite():
        return Decimal("NaN")
    context = decimal.getcontext()
    with decimal.localcontext(prec=context.prec + max(x.adjusted(), 0) + 4):
        turn = 2 * _decimal_pi()
        x -= turn * (x / turn).to_integral_value()
        i, last, total, factorial, numerator, sign = 0, Decimal(0), Decimal(1), 1, Decimal(1), 1
        while total != last:
            last = total
            i += 2
            factorial *= i * (i - 1)
            numerator *= x * x
            sign = -sign
            total += numerator / factorial * sign
    return +total


def _decimal_pi() -> Decimal:
    """pi at the current precision (the decimal module's documented recipe)."""
    with decimal.localcontext() as context:
        context.prec += 2
        last, term, total, n, na, d, da = Decimal(0), Decimal(3), Decimal(3), 1, 0, 0, 24
        while total != last:
            last = total
            n, na = n + na, na + 8
            d, da = d + da, da + 32
            term = (term * n) / d
            total += term
    return +total
