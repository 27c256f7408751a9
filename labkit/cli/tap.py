"""``labkit tap`` (and ``python -m labkit.tap``): a labkit host with an HTTP server behind a TAP device.

The bridge itself is :class:`labkit.tap.TapBridge`; this module parses the
options, builds the one-host network, and prints ``ready DEVICE IP mac MAC``
once the device exists and ``done: ...`` when it stops (after ``--seconds``,
on SIGTERM or Ctrl-C). Needs Linux and root; run it inside a network
namespace of your own so that no traffic leaves it.
"""

from __future__ import annotations

import argparse
import signal
import sys

from labkit.errors import LabkitError

__all__ = ["add_parser", "run", "main"]

_DESCRIPTION = "A labkit host with an HTTP server behind a TAP device (Linux, as root)."
_EPILOG = """\
then give the kernel's side of the device an address, e.g.:
  ip addr add 10.99.0.1/24 dev labkit0; ip link set labkit0 up
  ping 10.99.0.2; curl http://10.99.0.2/"""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="labkit0", help="TAP device name (default labkit0)")
    parser.add_argument("--ip", default="10.99.0.2/24", help="the labkit host's address")
    parser.add_argument("--gateway", default=None, help="the labkit host's default gateway")
    parser.add_argument("--port", type=int, default=80, help="HTTP port (default 80)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to run (max 3600)")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``tap`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser("tap", help="a labkit host behind a Linux TAP device (root)",
                              description=_DESCRIPTION, epilog=_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(p)
    return p


def run(args: argparse.Namespace, name: str = "labkit tap") -> int:
    """Serve until ``args.seconds`` have passed; problems are one line ``{name}: ...``, status 2."""
    from labkit.tap import PAGE, TapBridge, tap_available

    reason = tap_available()
    if reason is not None:
        print(f"{name}: {reason}", file=sys.stderr)
        return 2
    if not 0 < args.seconds <= 3600:
        print(f"{name}: --seconds {args.seconds:g}: expected a duration in (0, 3600]",
              file=sys.stderr)
        return 2
    from labkit.app.http import HttpEventServer, static_site
    from labkit.sim import Network
    from labkit.sim.stacks import install_transport, socket

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        net = Network(seed=1)
        host = net.add_host("L", ip=args.ip, gateway=args.gateway)
        bridge = TapBridge(net, host, name=args.name)
    except (LabkitError, OSError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    with bridge:
        try:
            install_transport(net)
            listener = socket(host)
            listener.bind(("0.0.0.0", args.port))
            listener.listen()
        except (LabkitError, OSError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 2
        server = HttpEventServer(listener, static_site({"/": PAGE}))
        print(f"ready {bridge.name} {host.ip} mac {':'.join(f'{b:02x}' for b in host.mac)}",
              flush=True)
        status = 0
        try:
            bridge.run(args.seconds)
        except KeyboardInterrupt:
            pass
        except (LabkitError, OSError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 2
        print(f"done: {bridge.from_kernel} frames from the kernel, {bridge.to_kernel} to it, "
              f"{server.served} HTTP request(s) served", flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.tap [options]``: the same as ``labkit tap [options]``."""
    parser = argparse.ArgumentParser(prog="python -m labkit.tap", description=_DESCRIPTION,
                                     epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_arguments(parser)
    return run(parser.parse_args(argv), name="labkit.tap")
