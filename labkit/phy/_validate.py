"""Argument checks shared by the physical-layer modules.

Every public function of :mod:`labkit.phy` runs its arguments through these,
so bad input gets the same clear message everywhere: the argument's name, the
value, and what would have been accepted.
"""

from __future__ import annotations

import numbers

import numpy as np

from labkit.errors import LabkitValueError

#: Line codes by canonical name. Aliases map to these.
CODES = ("nrz-l", "nrz-i", "manchester")
_ALIASES = {
    "nrz": "nrz-l",
    "nrzl": "nrz-l",
    "nrz-l": "nrz-l",
    "nrzi": "nrz-i",
    "nrz-i": "nrz-i",
    "manchester": "manchester",
}


def code_name(code: object) -> str:
    """Return the canonical name of a line code (``"NRZ_L"`` -> ``"nrz-l"``)."""
    if not isinstance(code, str):
        raise LabkitValueError(f"code={code!r}: a line code is named by a string, one of {CODES}")
    key = code.strip().lower().replace("_", "-")
    if key not in _ALIASES:
        raise LabkitValueError(f"code={code!r}: unknown line code; choose one of {CODES}")
    return _ALIASES[key]


def samples_per_bit(value: object) -> int:
    """Check ``samples_per_bit``: a whole number, at least 2."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise LabkitValueError(
            f"samples_per_bit={value!r}: must be a whole number (int), "
            "because every bit lasts the same number of samples"
        )
    if value < 2:
        raise LabkitValueError(
            f"samples_per_bit={value!r}: must be at least 2 (Manchester needs a sample in "
            "each half of the bit, and one sample per bit leaves nothing to recover a clock from)"
        )
    return int(value)


def bits(value: object, name: str = "bits") -> np.ndarray:
    """Return ``value`` as a 1-D ``uint8`` array of 0s and 1s, or raise."""
    if isinstance(value, (bytes, bytearray, memoryview, str)):
        raise LabkitValueError(
            f"{name}={bytes(value[:8]) if not isinstance(value, str) else value[:8]!r}...: "
            "expected an array of 0s and 1s; turn bytes into bits with bits_from_bytes()"
        )
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise LabkitValueError(f"{name}: expected a 1-D array of bits, got shape {arr.shape}")
    if arr.dtype == np.uint8 or arr.dtype == np.bool_:
        out = arr.astype(np.uint8, copy=False)
    elif arr.size == 0:
        return np.zeros(0, dtype=np.uint8)
    elif np.issubdtype(arr.dtype, np.number):
        out = arr
    else:
        raise LabkitValueError(f"{name}: expected numbers 0 and 1, got dtype {arr.dtype}")
    bad = np.flatnonzero((out != 0) & (out != 1))
    if bad.size:
        i = int(bad[0])
        raise LabkitValueError(
            f"{name}[{i}]={arr[i].item()!r}: a bit is 0 or 1 ({bad.size} value(s) are neither)"
        )
    return out.astype(np.uint8, copy=False)


def samples(value: object, name: str = "samples") -> np.ndarray:
    """Return ``value`` as a 1-D float64 array of finite voltages, or raise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise LabkitValueError(f"{name}: expected an array of voltages: {exc}") from None
    if arr.ndim != 1:
        raise LabkitValueError(f"{name}: expected a 1-D array of samples, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise LabkitValueError(f"{name}[{i}]={arr[i].item()!r}: samples must be finite voltages")
    return arr


def real(value: object, name: str) -> float:
    """Check a finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LabkitValueError(f"{name}={value!r}: expected a number")
    out = float(value)
    if not np.isfinite(out):
        raise LabkitValueError(f"{name}={value!r}: expected a finite number")
    return out


def rng(value: object) -> np.random.Generator:
    """Accept a ``numpy.random.Generator`` or an integer seed."""
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return np.random.default_rng(int(value))
    raise LabkitValueError(
        f"rng={value!r}: pass a numpy.random.Generator (np.random.default_rng(seed)) or an "
        "integer seed, so that every run draws the same noise"
    )
