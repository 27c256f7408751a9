"""``labkit demo``: the capstone's web request from the terminal, layer by layer.

    labkit demo                          the path's middle hop is the simulated boards' wire
    labkit demo --pcap out.pcap          also write the client's capture (open it in Wireshark)
    labkit demo --hardware TX RX         the middle hop on two real boards (serial ports)
    labkit demo --no-wire                every hop simulated at 100 Mbit/s

The scenario (what is built and run) is :mod:`labkit.demo`; this module prints
what each layer saw of the request, a progress bar while the reply arrives,
and the reply on the way back up.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from labkit.errors import LabkitError

__all__ = ["add_parser", "run", "print_demo", "check_pcap_path"]

_BAR = 30


def _hex(data: bytes, limit: int = 24) -> str:
    text = data[:limit].hex(" ")
    return text + (" …" if len(data) > limit else "")


class _Progress:
    """A text progress bar: redrawn in place on a terminal, a line per quarter otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.shown = -1

    def __call__(self, now: int, received: int, expected: int | None) -> None:
        if not expected:
            return
        share = min(1.0, received / expected)
        filled = int(share * _BAR)
        line = (f"  reply [{'#' * filled}{'.' * (_BAR - filled)}] {share:4.0%} "
                f"{received}/{expected} bytes at t = {now / 1e6:9.3f} ms")
        if self.tty:
            self.out.write("\r" + line)
            if received >= expected:
                self.out.write("\n")
            self.out.flush()
        else:
            step = int(share * 4)
            if step != self.shown:
                self.shown = step
                print(line, file=self.out)


def print_demo(pcap: str | None = None, hardware: tuple[str, str] | None = None,
               wire: bool = True, out: TextIO | None = None, seed: int = 9) -> int:
    """Run the demo (:func:`labkit.demo.scenario`) and print it to ``out`` (stdout).

    Returns the exit status: 0 if the page arrived (``200 OK``), else 1.
    """
    from labkit.capstone import SERVER_IP
    from labkit.demo import hop, scenario

    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out)

    where = hop(hardware, wire)
    say("labkit demo: C (10.0.1.10) fetches http://10.0.2.80/ across two LANs and two routers")
    say(f"  C - S1 - R1 = R2 - S2 - W    the hop R1 = R2 is {where.where}")
    seen = scenario(where, pcap=pcap, seed=seed, progress=_Progress(out))
    say()
    say("The request, down C's stack (headers added):")
    for layer in seen.request:
        added = f"+{len(layer.header)} B header" if layer.header else "the message"
        if layer.trailer:
            added += f", +{len(layer.trailer)} B trailer (FCS)"
        say(f"  {layer.name:<9}{layer.length:>5} B  {added:<34} {layer.summary}")
        if layer.header:
            say(f"  {'':<9}         header: {_hex(layer.header)}")
    bits, volts = seen.bits, seen.volts
    spb = 8
    idle = volts.size // spb - bits.size  # quiet line before and after the frame, in bit times
    say(f"  {'voltages':<9}{bits.size:>5} bits + {idle} idle bit times -> {volts.size} samples "
        f"(({bits.size} + {idle}) x {spb} per bit, Manchester, {volts.min():.1f} V / "
        f"{volts.max():.1f} V); first bits {''.join(map(str, bits[:16]))}…")
    say()
    say(f"The reply, up C's stack ({seen.reply_frames} segments reassembled by TCP):")
    for layer in reversed(seen.reply):
        if layer.name != "wire":
            say(f"  {layer.name:<9}{layer.length:>5} B  {layer.summary}")
    response = seen.exchange.response
    say(f"  HTTP     {response.status} {response.reason}, "
        f"{len(response.body)} bytes of {response.header('Content-Type')}")
    say()
    t = seen.exchange.times
    say(f"Timeline (virtual): connected {t['connected'] / 1e6:.3f} ms, "
        f"reply complete {t['received'] / 1e6:.3f} ms, closed {t['closed'] / 1e6:.3f} ms")
    for bridge in seen.bridges:
        say(f"  bridge: {bridge.frames} frames, {bridge.wire_bytes} bytes on the serial wire, "
            f"{bridge.lost} lost")
    say(f"  {seen.captured} frames captured at C" + (f", written to {pcap}" if pcap else ""))
    say(f"  W served {seen.served} request(s) for {SERVER_IP}")
    return 0 if seen.ok else 1


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``demo`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser(
        "demo", help="one web request through every layer, in the terminal",
        description="C fetches a web page from W across two LANs and two routers;\n"
                    "every layer's view of the request is printed, with a progress bar\n"
                    "over the reply.",
        epilog="\n".join(line.strip() for line in (__doc__ or "").split("\n\n")[1].splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pcap", metavar="FILE", help="write the client's capture to FILE (pcap)")
    p.add_argument("--hardware", nargs=2, metavar=("TX", "RX"),
                   help="carry the routers' hop over two real boards on these serial ports")
    p.add_argument("--no-wire", action="store_true",
                   help="simulate the routers' hop as a plain 100 Mbit/s link")
    p.add_argument("--seed", type=int, default=9, help="the simulation's seed (default 9)")
    return p


def check_pcap_path(path: str) -> None:
    """Refuse a ``--pcap`` path that cannot be written, before anything runs.

    Raises :class:`labkit.errors.LabkitValueError` naming the path and what is wrong with it.
    """
    import os
    from pathlib import Path

    from labkit.errors import LabkitValueError

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise LabkitValueError(f"--pcap {path}: is a folder; give a file name in it")
    if not folder.is_dir():
        raise LabkitValueError(f"--pcap {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise LabkitValueError(f"--pcap {path}: cannot write there (permission denied)")


def run(args: argparse.Namespace) -> int:
    """Run ``labkit demo``: a ``--pcap`` path that cannot be written is refused first (status 2,
    before the banner); a board that fails during the run is one line on stderr and status 1."""
    if args.pcap:
        check_pcap_path(args.pcap)  # a LabkitError: main prints "labkit demo: ..." and exits 2
    try:
        hardware = (args.hardware[0], args.hardware[1]) if args.hardware else None
        return print_demo(pcap=args.pcap, hardware=hardware, wire=not args.no_wire, seed=args.seed)
    except BrokenPipeError:
        raise  # `labkit demo | head`: main stops quietly, as for every subcommand
    except (LabkitError, OSError) as exc:
        print(f"labkit demo: {exc}", file=sys.stderr)
        return 1
