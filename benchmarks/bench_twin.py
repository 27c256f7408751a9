"""The real firmware on the twin (two simavr boards): byte-bridge goodput and the PHY's top rate.

    python benchmarks/bench_twin.py [--quick]

All times are the boards' simulated time (``Twin.sim_time()``, what
``Board.clock()`` reads on a ``labkit-twin://`` port), so the figures do not
depend on how fast or busy this computer is; the host's own work between
commands counts, at the speed the host ran during the measurement.

1. Byte bridge, host to host: 4 KiB pushed into board A (BRIDGE_DATA, 64 bytes
   a time), carried over the wire as 8N1 frames, read from board B
   (BRIDGE_RECV). Goodput = payload bytes / simulated seconds from the first
   BRIDGE_DATA to the last byte in B's host, as a fraction of the wire's
   8N1 line rate (bit_rate / 10 bytes/s, the 8/10 of the baud rate that 8N1
   leaves for data). Measured with the firmware's USB link at 500 000 baud (as
   PROTOCOL.md specifies) and at 115 200 baud (``make HOST_BAUD=115200``, really
   117 647 baud with U2X), at the bridge's top wire rate, 19 200 bit/s, and at
   9600.
2. The host link alone at 115 200 and 500 000 baud: PING with 64 bytes, echoed;
   payload bytes each way per second, as a fraction of baud / 10.
3. The PHY mode (TRANSMIT + SAMPLE): the highest bit rate at which 10 kB
   (81 920 random bits, in frames of up to 2032 bits) arrive with zero bit
   errors, per line code, on the twin and on the Python simulated pair, both
   with the standard wire (tau = 22 us, 15 mV noise, clocks +0.5 % / -0.5 %).
4. The board's own receiver (RECEIVE: input capture on D8, decoded by the
   firmware), twin only, on the default wire (clocks +0.5 % and -0.5 %): per line code and rate, bit errors in 10 kB (frames of
   500 bits, the board holds about 1000 edges) for each of --seeds noise seeds
   (one twin per seed), and the highest rate clean in every seed. ``--quick``:
   2 kB per seed.
5. Where each line code stops being clean, on the twin and on the Python simulated pair,
   for both receivers (the host's sampling one, as the selftest runs it, and the board's
   RECEIVE), on the default wire (clocks +0.5 % / -0.5 %): for each of --seeds seeds, the
   selftest's grid from 20 000 bit/s up, --bits random bits per rate, until the first rate
   with an error; a code's boundary is the highest rate clean in every seed. The twin and
   the simulation agree when their boundaries are at most one grid step apart
   (``--only-boundaries``).
6. The byte bridge both ways at once (``--only-duplex``): A sends to B while B sends to
   A, one host thread per board, with the host link at 500 000 and 1 000 000 baud.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import labkit.hw  # noqa: E402,F401
from labkit.hw import Board  # noqa: E402
from labkit.hw.lab import bit_error_test, board_bit_error_test, open_pair  # noqa: E402
from labkit.hw.selftest import DEFAULT_RATES  # noqa: E402
from labkit.hw.twin import Twin, missing_tools  # noqa: E402

BRIDGE_BYTES = 4096
PHY_RATES = (20_000, 25_000, 28_571, 33_333, 40_000, 44_444, 50_000)
PHY_BITS = 10_000 * 8
RX_RATES = {"manchester": (25_000, 33_333, 40_000, 50_000),
            "nrz-l": (40_000, 50_000, 66_667, 100_000),
            "nrz-i": (40_000, 50_000, 66_667)}
RX_FRAME = 500


def boards_on(twin: Twin) -> tuple[Board, Board]:
    """Boards on a Twin's ptys, with the twin's simulated clock."""
    # the host opens the ports at the firmware's rate: the twin garbles a mismatch, as a board does
    a, b = (Board.open(p, baudrate=twin.host_baud, reset_wait=0.5, clock=twin.sim_time)
            for p in twin.ports)
    return a, b


def bench_bridge(host_baud: int, bit_rate: int, nbytes: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    with Twin(host_baud=host_baud) as twin:
        a, b = boards_on(twin)
        try:
            real = a.bridge_start(bit_rate)
            b.bridge_start(bit_rate)
            t0 = twin.sim_time()
            a.bridge_send(data, timeout=nbytes * 20 / bit_rate + 5)
            got = b.bridge_recv(nbytes, timeout=nbytes * 20 / bit_rate + 5)
            t1 = twin.sim_time()
            a.bridge_stop()
            b.bridge_stop()
        finally:
            a.close()
            b.close()
    if got != data:
        raise SystemExit(f"bridge at {bit_rate} bit/s: {len(got)} of {nbytes} bytes, damaged")
    goodput = nbytes / (t1 - t0)
    return real, goodput, goodput / (real / 10)


def bench_duplex(host_baud: int, bit_rate: int, nbytes: int) -> tuple[float, float, float]:
    """Both directions at once: A sends nbytes to B while B sends nbytes to A (one thread each).

    Returns the real wire rate and each direction's goodput as a fraction of bit_rate / 10,
    over the simulated time from the start until both have all their bytes."""
    import threading

    rng = np.random.default_rng(8)
    data = [rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes() for _ in range(2)]
    got: list[bytes] = [b"", b""]
    errors: list[BaseException] = []
    with Twin(host_baud=host_baud) as twin:
        a, b = boards_on(twin)
        try:
            real = a.bridge_start(bit_rate)
            b.bridge_start(bit_rate)
            t0 = twin.sim_time()
            wait = nbytes * 20 / bit_rate + 5

            def run(i: int, me: Board) -> None:
                try:
                    me.bridge_send(data[i], timeout=wait)
                    got[i] = me.bridge_recv(nbytes, timeout=wait)  # board i gets the other one's
                except BaseException as exc:  # reported below, in the main thread
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(i, me)) for i, me in enumerate((a, b))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            t1 = twin.sim_time()
            a.bridge_stop()
            b.bridge_stop()
        finally:
            a.close()
            b.close()
    if errors:
        raise SystemExit(f"duplex bridge at {bit_rate} bit/s: {errors[0]!r}")
    if got[1] != data[0] or got[0] != data[1]:
        raise SystemExit(f"duplex bridge at {bit_rate} bit/s, host link {host_baud}: A got "
                         f"{len(got[0])} of B's {nbytes} bytes (first difference at byte {next((k for k, (x, y) in enumerate(zip(got[0], data[1])) if x != y), None)}), "
                         f"B got {len(got[1])} of A's (first difference at byte {next((k for k, (x, y) in enumerate(zip(got[1], data[0])) if x != y), None)})")
    goodput = nbytes / (t1 - t0)
    return real, goodput / (real / 10), goodput / (real / 10)


def bench_ping(host_baud: int, count: int = 100) -> tuple[float, float]:
    payload = bytes(range(64))
    with Twin(host_baud=host_baud) as twin:
        a, b = boards_on(twin)
        try:
            t0 = twin.sim_time()
            for _ in range(count):
                a.ping(payload)
            t1 = twin.sim_time()
        finally:
            a.close()
            b.close()
    real_baud = 16e6 / (8 * (16e6 // (8 * host_baud)))  # U2X: F_CPU / (8 (UBRR0 + 1))
    goodput = count * len(payload) / (t1 - t0)
    return goodput, goodput / (real_baud / 10)


def clean_bits(tx: Board, rx: Board, rate: int, code: str, rng) -> int:
    """Bits sent at ``rate`` before the first bit error (PHY_BITS when none)."""
    spb = max(2, min(10, 200_000 // rate))  # as bit_error_test chooses
    per_frame = min(2032, 8192 // spb - 18)
    sent = 0
    while sent < PHY_BITS:
        n = min(per_frame, PHY_BITS - sent)
        r = bit_error_test(tx, rx, rate, code, rng, payload_bits=n)
        if r.errors:
            return sent
        sent += n
    return sent


def bench_phy(kind: str) -> dict[str, tuple[int | None, int | None]]:
    """Per line code: (highest clean rate, the first rate with errors)."""
    out = {}
    for code in ("nrz-l", "nrz-i", "manchester"):
        tx, rx = open_pair(kind, kind, pair=f"bench-{kind}-{code}")
        rng = np.random.default_rng(3)
        best, failed = None, None
        try:
            for rate in PHY_RATES:
                if clean_bits(tx, rx, rate, code, rng) < PHY_BITS:
                    failed = rate
                    break
                best = rate
        finally:
            tx.close()
            rx.close()
        out[code] = (best, failed)
    return out


def bench_receiver(seeds: int, nbits: int) -> dict[tuple[str, int], list[int]]:
    """Bit errors per (code, rate), one entry per seed, with the board's own receiver."""
    out: dict[tuple[str, int], list[int]] = {}
    for seed in range(1, seeds + 1):
        wire = {"seed": seed}  # the default wire: clocks +-0.5 %, the ceramic resonators' spread
        tx, rx = open_pair("twin", "twin", pair=f"bench-rx-{seed}", wire=wire)
        rng = np.random.default_rng(seed)
        try:
            for code, rates in RX_RATES.items():
                for rate in rates:
                    errors = 0
                    for _ in range(max(1, nbits // RX_FRAME)):
                        errors += board_bit_error_test(tx, rx, rate, code, rng, payload_bits=RX_FRAME).errors
                    out.setdefault((code, rate), []).append(errors)
        finally:
            tx.close()
            rx.close()
    return out


BOUNDARY_RATES = tuple(r for r in DEFAULT_RATES if r >= 20_000)
CODES = ("nrz-l", "nrz-i", "manchester")


def first_errors(tx: Board, rx: Board, receiver: str, code: str, nbits: int,
                 rng: np.random.Generator) -> dict[int, int]:
    """Bit errors per grid rate, up the grid until the first rate with an error."""
    out = {}
    for rate in BOUNDARY_RATES:
        if receiver == "board":
            frame = RX_FRAME
            test = board_bit_error_test
        else:
            spb = max(2, min(10, 200_000 // rate))  # as bit_error_test chooses
            frame = min(2032, 8192 // spb - 18)
            test = bit_error_test
        errors, sent = 0, 0
        while sent < nbits and not errors:
            n = min(frame, nbits - sent)
            errors += test(tx, rx, rate, code, rng, payload_bits=n).errors
            sent += n
        out[rate] = errors
        if errors:
            break
    return out


def bench_boundaries(kinds: tuple[str, ...], seeds: int, nbits: int) -> dict:
    """{(kind, receiver, code): [errors per rate for each seed]} on the default wire."""
    out: dict = {}
    for kind in kinds:
        for seed in range(1, seeds + 1):
            tx, rx = open_pair(kind, kind, pair=f"bound-{kind}-{seed}", wire={"seed": seed})
            try:
                for receiver in ("sample", "board"):
                    for code in CODES:
                        rng = np.random.default_rng(1000 + seed)
                        got = first_errors(tx, rx, receiver, code, nbits, rng)
                        out.setdefault((kind, receiver, code), []).append(got)
                        print(f"   {kind:>4} seed {seed} {receiver:>6} {code:>10}: {got}",
                              flush=True)
            finally:
                tx.close()
                rx.close()
    return out


def boundary(per_seed: list[dict[int, int]]) -> int | None:
    """The highest grid rate below every seed's first error."""
    clean = None
    for rate in BOUNDARY_RATES:
        if any(rate not in d or d[rate] for d in per_seed):
            break
        clean = rate
    return clean


def boundaries_section(args: argparse.Namespace) -> None:
    nbits = args.bits
    print(f"5. where each code stops being clean: {nbits} bits per rate and seed, "
          f"{args.seeds} seeds, default wire")
    kinds = tuple(args.kinds.split(","))
    res = bench_boundaries(kinds, args.seeds, nbits)
    grid = list(BOUNDARY_RATES)
    for receiver in ("sample", "board"):
        for code in CODES:
            b = {k: boundary(res[(k, receiver, code)]) for k in kinds}
            cells = ", ".join(f"{k} clean to {v}" for k, v in b.items())
            if len(kinds) == 2:
                idx = [grid.index(v) if v is not None else -1 for v in b.values()]
                cells += f" ({abs(idx[0] - idx[1])} grid step(s) apart)"
            print(f"   {receiver:>6} {code:>10}: {cells}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 KiB through the bridge, 2 kB per seed")
    parser.add_argument("--seeds", type=int, default=8, help="noise seeds for the board's receiver")
    parser.add_argument("--only-receiver", action="store_true", help="run section 4 alone")
    parser.add_argument("--only-boundaries", action="store_true", help="run section 5 alone")
    parser.add_argument("--only-duplex", action="store_true",
                        help="the bridge both ways at once, host links 500 000 and 1 000 000 baud")
    parser.add_argument("--kinds", default="sim,twin", help="section 5's back-ends (sim, twin)")
    parser.add_argument("--bits", type=int, default=PHY_BITS, help="section 5: bits per rate and seed")
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        raise SystemExit(f"bench_twin needs {', '.join(missing)}")
    nbytes = 1024 if args.quick else BRIDGE_BYTES
    wall = time.perf_counter()
    if args.only_duplex:
        print(f"6. byte bridge both ways at once, {nbytes} bytes each way (simulated time)")
        for host_baud in (500_000, 1_000_000):
            real, fa, fb = bench_duplex(host_baud, 19_200, nbytes)
            print(f"   host link {host_baud:>9} baud, wire {real:.0f} bit/s: each direction "
                  f"{fa:.1%} of bit_rate/10")
        print(f"(wall time {time.perf_counter() - wall:.0f} s)")
        return
    if args.only_boundaries:
        boundaries_section(args)
        print(f"(wall time {time.perf_counter() - wall:.0f} s)")
        return
    if args.only_receiver:
        receiver_section(args)
        print(f"(wall time {time.perf_counter() - wall:.0f} s)")
        return
    print(f"1. byte bridge, {nbytes} bytes host to host (simulated time)")
    print(f"   {'host link':>12} {'wire bit/s':>10} {'goodput B/s':>12} {'of bit_rate/10':>15}")
    for host_baud in (115_200, 500_000):
        for bit_rate in (19_200, 9600):
            real, goodput, frac = bench_bridge(host_baud, bit_rate, nbytes)
            print(f"   {host_baud:>12} {real:>10.0f} {goodput:>12.1f} {frac:>15.1%}")
    print("2. host link alone: PING 64 bytes, echoed (simulated time)")
    for host_baud in (115_200, 500_000):
        goodput, frac = bench_ping(host_baud)
        print(f"   {host_baud:>7} baud: {goodput:>8.0f} payload B/s each way, {frac:.1%} of baud/10")
    print("3. PHY: highest bit rate with 0 errors in 10 kB, per line code")
    for kind in ("twin", "sim"):
        res = bench_phy(kind)
        cells = ", ".join(f"{c} {b} (errors at {f})" for c, (b, f) in res.items())
        print(f"   {kind}: {cells}")
    receiver_section(args)
    boundaries_section(args)
    print(f"(wall time {time.perf_counter() - wall:.0f} s)")


def receiver_section(args: argparse.Namespace) -> None:
    nbits = 2000 if args.quick else PHY_BITS
    print(f"4. the board's own receiver (RECEIVE), {nbits} bits per seed, {args.seeds} seeds: "
          "errors per seed")
    res = bench_receiver(args.seeds, nbits)
    for (code, rate), errs in res.items():
        print(f"   {code:>10} {rate:>7} bit/s: {errs}")
    for code in RX_RATES:
        clean = [r for (c, r), e in res.items() if c == code and not any(e)]
        print(f"   {code}: clean in every seed up to {max(clean) if clean else None} bit/s")


if __name__ == "__main__":
    main()
