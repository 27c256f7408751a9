"""The ``labkit`` command.

    labkit version                     print the version
    labkit student-copies [-o DIR]     write the notebooks without their solutions
    labkit ber [--code C]              measured and theoretical bit error rates
    labkit hw ports|doctor|selftest|send|recv   the hardware lab (see hardware/README.md)
    labkit demo [--pcap FILE] [--hardware TX RX]  one web request through every layer
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import labkit

__all__ = ["main"]


def _cmd_version(_args: argparse.Namespace) -> int:
    print(f"labkit {labkit.__version__}")
    return 0


def _cmd_student_copies(args: argparse.Namespace) -> int:
    from labkit.exercises import student_copy

    sources = [Path(p) for p in args.notebooks] or sorted(Path("course").glob("*.ipynb"))
    if not sources:
        print("no notebooks given and none found in ./course", file=sys.stderr)
        return 2
    out = Path(args.out)
    for src in sources:
        n = student_copy(src, out / src.name)
        print(f"{src} -> {out / src.name} ({n} solution cell(s) emptied)")
    return 0


def _cmd_ber(args: argparse.Namespace) -> int:
    import numpy as np

    from labkit import phy

    snrs = np.arange(args.min_snr, args.max_snr + 1e-9, args.step)
    measured = phy.measure_ber(snrs, args.code, args.samples_per_bit, args.bits, args.seed)
    theory = phy.ber_theory(snrs, args.samples_per_bit, args.code)
    print(f"{args.code}, {args.samples_per_bit} samples/bit, {args.bits} bits per point")
    print(f"{'SNR dB':>7} {'measured':>10} {'theory':>10}")
    for s, m, t in zip(snrs, measured, theory):
        print(f"{s:7.1f} {m:10.2e} {t:10.2e}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="The labkit networking course.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("version", help="print the version").set_defaults(func=_cmd_version)

    sc = sub.add_parser("student-copies", help="write the notebooks without their solutions")
    sc.add_argument("notebooks", nargs="*", help="notebooks (default: course/*.ipynb)")
    sc.add_argument("-o", "--out", default="student", help="output folder (default: student)")
    sc.set_defaults(func=_cmd_student_copies)

    b = sub.add_parser("ber", help="bit error rate: measured against theory")
    b.add_argument("--code", default="nrz-l", choices=["nrz-l", "nrz-i", "manchester"])
    b.add_argument("--samples-per-bit", type=int, default=8)
    b.add_argument("--bits", type=int, default=200_000)
    b.add_argument("--min-snr", type=float, default=-4.0)
    b.add_argument("--max-snr", type=float, default=6.0)
    b.add_argument("--step", type=float, default=2.0)
    b.add_argument("--seed", type=int, default=1)
    b.set_defaults(func=_cmd_ber)

    from labkit.hw.cli import add_subparser as add_hw

    add_hw(sub)

    from labkit.demo import add_subparser as add_demo

    add_demo(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except labkit.LabkitError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
