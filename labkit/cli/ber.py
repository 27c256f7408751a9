"""``labkit ber``: bit error rates measured on the simulated wire against theory (:mod:`labkit.phy`)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


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
    p.add_argument("--step", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=1)
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from labkit import phy

    snrs = np.arange(args.min_snr, args.max_snr + 1e-9, args.step)
    measured = phy.measure_ber(snrs, args.code, args.samples_per_bit, args.bits, args.seed)
    theory = np.asarray(phy.ber_theory(snrs, args.samples_per_bit, args.code))
    print(f"{args.code}, {args.samples_per_bit} samples/bit, {args.bits} bits per point")
    print(f"{'SNR dB':>7} {'measured':>10} {'theory':>10}")
    for s, m, t in zip(snrs, measured, theory):
        print(f"{s:7.1f} {m:10.2e} {t:10.2e}")
    return 0
