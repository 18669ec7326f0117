"""Argument checks shared by the vectorised functions and the streaming classes."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt

from ._kernels import first_negative, first_non_finite


def check_period(period: object, name: str = "period", *, minimum: int = 1) -> int:
    if isinstance(period, bool) or not isinstance(period, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, was {period!r}")
    value = int(period)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, was {value}")
    return value


def check_window(window: object) -> int | None:
    if window is None:
        return None
    return check_period(window, "window")


def check_num_std(num_std: object) -> float:
    if isinstance(num_std, bool) or not isinstance(num_std, Real):
        raise ValueError(f"num_std must be a finite number >= 0, was {num_std!r}")
    value = float(num_std)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"num_std must be a finite number >= 0, was {value!r}")
    return value


def check_ddof(ddof: object, period: int) -> int:
    if isinstance(ddof, bool) or not isinstance(ddof, Integral) or int(ddof) not in (0, 1):
        raise ValueError(f"ddof must be 0 or 1, was {ddof!r}")
    value = int(ddof)
    if period <= value:
        raise ValueError(f"period must be > ddof, was period={period} ddof={value}")
    return value


def as_series(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, was dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, was {arr.ndim}-D with shape {arr.shape}")
    series = np.ascontiguousarray(arr, dtype=np.float64)
    bad = first_non_finite(series)
    if bad >= 0:
        raise ValueError(f"{name} must be finite, was {float(series[bad])!r} at index {bad}")
    return series


def as_volume(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    series = as_series(values, "volume")
    bad = first_negative(series)
    if bad >= 0:
        raise ValueError(f"volume must be >= 0, was {float(series[bad])!r} at index {bad}")
    return series


def same_length(**series: npt.NDArray[np.float64]) -> None:
    lengths = {name: arr.shape[0] for name, arr in series.items()}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"{', '.join(lengths)} must have equal lengths, was {found}")


def not_finite(name: str, value: object) -> ValueError:
    # the streaming hot path tests math.isfinite inline and only calls this to build the error
    return ValueError(f"{name} must be finite, was {value!r}")
