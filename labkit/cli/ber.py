"""``labkit ber``: bit error rates measured on the simulated wire against theory (:mod:`labkit.phy`)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run", "format_measured"]


def _step(text: str) -> float:
    try:
        step = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of dB, e.g. 2") from None
    if not step > 0:
        raise argparse.ArgumentTypeError(f"{text}: the step must be more than 0 dB")
    return step


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``ber`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser("ber", help="bit error rate: measured against theory",
                              description="Measure the bit error rate of a line code over a "
                                          "noisy wire and print it next to theory.")
    p.add_argument("--code", default="nrz-l", choices=["nrz-l", "nrz-i", "manchester"])
    p.add_argument("--samples-per-bit", type=int, default=8)
    p.add_argument("--bits", type=int, default=200_000)
    p.add_argument("--min-snr", type=float, default=-4.0)
    p.add_argument("--max-snr", type=float, default=6.0)
    p.add_argument("--step", type=_step, default=2.0, help="dB between points (default 2)")
    p.add_argument("--seed", type=int, default=1)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from labkit import phy

    snrs = np.arange(args.min_snr, args.max_snr + 1e-9, args.step)
    if snrs.size == 0:
        print(f"labkit ber: --min-snr {args.min_snr:g} is above --max-snr {args.max_snr:g}",
              file=sys.stderr)
        return 2
    measured = phy.measure_ber(snrs, args.code, args.samples_per_bit, args.bits, args.seed)
    theory = np.asarray(phy.ber_theory(snrs, args.samples_per_bit, args.code))
    print(f"{args.code}, {args.samples_per_bit} samples/bit, {args.bits} bits per point")
    print(f"{'SNR dB':>7} {'measured':>10} {'theory':>10}")
    for s, m, t in zip(snrs, measured, theory):
        print(f"{s:7.1f} {format_measured(m, args.bits):>10} {t:10.2e}")
    if np.any(measured == 0):
        print(f"< {1 / args.bits:.1e}: no errors seen in {args.bits} bits (< 1/n), "
              "as notebook 01's plot marks such a point")
    return 0


def format_measured(ber: float, n_bits: int) -> str:
    """A measured BER for the table: ``'2.34e-03'``, or ``'< 5.0e-06'`` when no bit was wrong.

    Zero errors in ``n_bits`` does not mean a BER of 0, only one below about 1/n: the same
    "no errors seen (< 1/n)" that :func:`labkit.viz.phy.plot_ber` draws as an open marker.
    """
    if ber == 0:
        return f"< {1 / n_bits:.1e}"
    return f"{ber:.2e}"
