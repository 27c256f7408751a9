"""A bounded fuzz run of every link-layer parser: N random and mutated inputs each.

Run: ``python benchmarks/fuzz_link.py [N]`` (default 10,000) from the repository root.

The inputs come from the same seeded generators as the fuzz tests in tests/ (seeds
0..N-1 here, where the tests let hypothesis pick seeds), so a failure found here
replays with its seed. For each parser it prints how many inputs were accepted,
how many were refused with which labkit error (by layer and field), and the time
taken. Any other exception is a bug: it is printed with its seed and the script
exits with status 1.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_link_ethernet import _mutated_frame  # noqa: E402
from test_link_fuzz import _bits_input, _mac_input, _tagged_input  # noqa: E402
from test_link_wire import _WAVEFORM_KINDS, _waveform_input  # noqa: E402

from labkit.errors import LabkitError  # noqa: E402
from labkit.link import EthernetFrame, MACAddress, framing, receive_frame  # noqa: E402
from labkit.link.wire import frame_from_bits  # noqa: E402


def _random_bytes(seed: int) -> tuple[bytes, bool]:
    rng = np.random.default_rng(seed)
    return rng.bytes(int(rng.integers(0, 100 if rng.random() < 0.5 else 1600))), bool(rng.random() < 0.5)


def _cobs_input(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:
        return rng.bytes(int(rng.integers(0, 600)))
    data = bytearray(framing.encode(rng.bytes(int(rng.integers(0, 600)))))  # real, then mutated
    for _ in range(int(rng.integers(1, 4))):
        data[int(rng.integers(0, len(data)))] = int(rng.choice([0, 1, 255, rng.integers(0, 256)]))
    return bytes(data)


def _cobs(data: bytes) -> None:
    framing.decode(data)
    framing.StreamDecoder(max_frame=256).feed(data)


def _waveform(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kind = _WAVEFORM_KINDS[int(rng.integers(0, len(_WAVEFORM_KINDS)))]
    return _waveform_input(seed, kind, int(rng.integers(0, 1501)))


#: (name, make an input from a seed, parse it); inputs are made outside the timing and
#: outside the try, so a bug in a generator is not counted as the parser's.
PARSERS: list[tuple[str, Callable[[int], Any], Callable[[Any], object]]] = [
    ("Ethernet, random bytes", _random_bytes, lambda a: EthernetFrame.parse(a[0], fcs=a[1])),
    ("Ethernet, mutated frames", _mutated_frame,
     lambda a: EthernetFrame.parse(a[0], fcs=a[1], payload_length=a[2])),
    ("802.1Q tagged", _tagged_input, lambda a: EthernetFrame.parse(a[0], fcs=a[1])),
    ("MAC address", _mac_input, MACAddress),
    ("COBS decode + stream", _cobs_input, _cobs),
    ("wire: bits -> frame", _bits_input, lambda a: frame_from_bits(a[0], a[1])),
    ("wire: waveform -> frame", _waveform, receive_frame),
]


def main(n: int) -> int:
    bugs = 0
    print(f"{'parser':<26}{'inputs':>8}{'accepted':>10}{'refused':>9}{'seconds':>9}"
          f"{'ms/input':>10}  most common refusals (seconds: parsing only)")
    total = time.perf_counter()
    for name, make, parse in PARSERS:
        accepted, refused = 0, Counter()
        dt = 0.0
        for seed in range(n):
            arg = make(seed)
            t0 = time.perf_counter()
            try:
                parse(arg)
                accepted += 1
            except LabkitError as err:
                layer = getattr(err, "layer", None)
                refused[f"{layer}.{err.field}" if layer else type(err).__name__] += 1  # type: ignore[attr-defined]
            except Exception as exc:  # anything else is a bug in the parser
                bugs += 1
                print(f"  BUG {name} seed={seed}: {type(exc).__name__}: {exc}")
            dt += time.perf_counter() - t0
        top = ", ".join(f"{k} {v}" for k, v in refused.most_common(3))
        print(f"{name:<26}{n:>8}{accepted:>10}{sum(refused.values()):>9}{dt:>9.1f}"
              f"{dt / n * 1e3:>10.2f}  {top}")
    print(f"total {time.perf_counter() - total:.1f} s; inputs that raised a non-labkit error: {bugs}")
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
