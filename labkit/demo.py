"""``labkit demo``: the capstone's web request from the terminal, layer by layer.

    labkit demo                          the path's middle hop is the simulated boards' wire
    labkit demo --pcap out.pcap          also write the client's capture (open it in Wireshark)
    labkit demo --hardware TX RX         the middle hop on two real boards (serial ports)
    labkit demo --no-wire                every hop simulated at 100 Mbit/s

It builds :mod:`labkit.capstone`'s network (two LANs, two routers), fetches the
page, and prints what each layer saw of the request, a progress bar while the
reply arrives, and the reply on the way back up.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from labkit.errors import LabkitError

__all__ = ["add_subparser", "run"]

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


def run(pcap: str | None = None, hardware: tuple[str, str] | None = None, wire: bool = True,
        out: TextIO | None = None, seed: int = 9) -> int:
    """Run the demo; print to ``out`` (stdout). Returns the exit status."""
    from labkit.capstone import (
        SERVER_IP,
        build,
        fetch,
        layers,
        reply_frames,
        request_frame,
        wire_signal,
    )

    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out)

    mode = "bridge" if wire or hardware else "sim"
    ports = hardware if hardware else (None, None)
    if hardware and all(port == "sim" for port in hardware):
        hardware = None  # "sim sim": the simulated pair, whatever the environment says
    from_env = tuple(os.environ.get(k) or "sim" for k in ("LABKIT_TX_PORT", "LABKIT_RX_PORT"))
    if ports == (None, None) and mode == "bridge" and from_env != ("sim", "sim"):
        hardware = from_env  # open_pair takes real boards from the environment
    where = ("real boards " + " -> ".join(hardware) if hardware
             else "the simulated boards' byte bridge" if mode == "bridge" else "a simulated link")
    say("labkit demo: C (10.0.1.10) fetches http://10.0.2.80/ across two LANs and two routers")
    say(f"  C - S1 - R1 = R2 - S2 - W    the hop R1 = R2 is {where}")
    with build(seed=seed, wire=mode, ports=ports, pcap=pcap) as cap:
        ex = fetch(cap, progress=_Progress(out))
        trace = cap.capture.trace
        frame = request_frame(trace)
        say()
        say("The request, down C's stack (headers added):")
        for layer in layers(frame):
            added = f"+{len(layer.header)} B header" if layer.header else "the message"
            if layer.trailer:
                added += f", +{len(layer.trailer)} B trailer (FCS)"
            say(f"  {layer.name:<9}{layer.length:>5} B  {added:<34} {layer.summary}")
            if layer.header:
                say(f"  {'':<9}         header: {_hex(layer.header)}")
        bits, volts = wire_signal(frame)
        say(f"  {'voltages':<9}{bits.size:>5} bits -> {volts.size} samples (8 per bit, "
            f"Manchester, {volts.min():.1f} V / {volts.max():.1f} V); first bits "
            f"{''.join(map(str, bits[:16]))}…")
        replies = reply_frames(trace)
        say()
        say(f"The reply, up C's stack ({len(replies)} segments reassembled by TCP):")
        if replies:
            for layer in reversed(layers(replies[0])):
                if layer.name == "wire":
                    continue
                say(f"  {layer.name:<9}{layer.length:>5} B  {layer.summary}")
        say(f"  HTTP     {ex.response.status} {ex.response.reason}, "
            f"{len(ex.response.body)} bytes of {ex.response.header('Content-Type')}")
        say()
        t = ex.times
        say(f"Timeline (virtual): connected {t['connected'] / 1e6:.3f} ms, "
            f"reply complete {t['received'] / 1e6:.3f} ms, closed {t['closed'] / 1e6:.3f} ms")
        for hop in cap.hops:
            say(f"  bridge: {hop.frames} frames, {hop.wire_bytes} bytes on the serial wire, "
                f"{hop.lost} lost")
        say(f"  {len(trace)} frames captured at C" + (f", written to {pcap}" if pcap else ""))
        say(f"  W served {cap.server.served} request(s) for {SERVER_IP}")
    return 0 if ex.response.status == 200 else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        return run(pcap=args.pcap, hardware=tuple(args.hardware) if args.hardware else None,
                   wire=not args.no_wire, seed=args.seed)
    except (LabkitError, OSError) as exc:
        print(f"labkit demo: {exc}", file=sys.stderr)
        return 1


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``demo`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser(
        "demo", help="one web request through every layer, in the terminal",
        description="C fetches a web page from W across two LANs and two routers;\n"
                    "every layer's view of the request is printed, with a progress bar\n"
                    "over the reply.",
        epilog="\n".join(line.strip() for line in __doc__.split("\n\n")[1].splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pcap", metavar="FILE", help="write the client's capture to FILE (pcap)")
    p.add_argument("--hardware", nargs=2, metavar=("TX", "RX"),
                   help="carry the routers' hop over two real boards on these serial ports")
    p.add_argument("--no-wire", action="store_true",
                   help="simulate the routers' hop as a plain 100 Mbit/s link")
    p.add_argument("--seed", type=int, default=9, help="the simulation's seed (default 9)")
    p.set_defaults(func=_cmd_demo)
    return p
