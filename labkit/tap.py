"""A labkit host on a real Linux network: a TAP device joins the simulation to the kernel.

A TAP device (``/dev/net/tun`` with ``IFF_TAP``) is a network interface whose
"wire" is a file descriptor: every Ethernet frame the kernel sends out of the
interface can be read from the descriptor, and every frame written to the
descriptor arrives at the kernel as if it came in on the interface. So a
simulated host behind it is, for the kernel, just another machine on that
Ethernet: the operating system's own ``ping`` gets its echo replies from
labkit's ICMP, and ``curl`` talks to labkit's TCP and HTTP server.

::

    net = Network(seed=1)
    host = net.add_host("L", ip="10.99.0.2/24", gateway="10.99.0.1")
    bridge = TapBridge(net, host, name="labkit0")      # creates the TAP device
    install_transport(net)                             # labkit's IP, TCP, UDP on L
    ... put servers on L (event-driven: on_connection / on_datagram) ...
    # then, as root: ip addr add 10.99.0.1/24 dev labkit0; ip link set labkit0 up
    bridge.run(seconds=30)                             # frames flow in wall time

The simulation keeps virtual time; :meth:`TapBridge.run` paces it to the
wall clock while frames flow (virtual time = wall time since the run began,
so TCP's timers and the kernel's agree). Creating a TAP device needs
``CAP_NET_ADMIN`` (root); do it in a network namespace of your own so that no
traffic leaves it (the tests do: ``ip netns add``, ``ip netns exec``).

No dependency beyond the standard library: ``fcntl.ioctl(TUNSETIFF)``. From a
terminal, ``labkit tap`` (or ``python -m labkit.tap``) runs a host with an HTTP
server behind a TAP device: ``sudo python -m labkit.tap --help``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from labkit.errors import LabkitError, LabkitValueError

__all__ = ["TapBridge", "TapError", "open_tap", "tap_available", "TUNSETIFF", "IFF_TAP",
           "IFF_NO_PI"]

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000  # frames without the 4-byte packet-information header
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: name, flags, padding to 40 bytes
_MAX_FRAME = 65536
_TUN = "/dev/net/tun"


class TapError(LabkitError, OSError):
    """A TAP device could not be made or used."""


def tap_available() -> str | None:
    """``None`` if this process can create TAP devices, else the reason it cannot."""
    if not sys.platform.startswith("linux"):
        return f"TAP devices are a Linux feature (this is {sys.platform})"
    if not os.path.exists(_TUN):
        return f"{_TUN} does not exist (no tun module, or a container without the device)"
    if os.geteuid() != 0:
        return "creating a TAP device needs root (CAP_NET_ADMIN)"
    return None


def open_tap(name: str = "labkit0") -> tuple[int, str]:
    """Create (or attach to) TAP device ``name``; return the open descriptor and the real name.

    The descriptor is non-blocking; the device disappears when it is closed.
    """
    if not isinstance(name, str) or not name or len(name.encode()) > 15 or "/" in name \
            or any(c.isspace() for c in name):
        raise LabkitValueError(f"name={name!r}: an interface name of 1 to 15 characters, "
                               "no spaces or '/'")
    try:
        fd = os.open(_TUN, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise TapError(exc.errno, f"cannot open {_TUN}: {exc.strerror}") from None
    try:
        reply = fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError as exc:
        os.close(fd)
        hint = " (are you root?)" if exc.errno == errno.EPERM else ""
        raise TapError(exc.errno, f"TUNSETIFF {name}: {exc.strerror}{hint}") from None
    actual = _IFREQ.unpack(reply)[0].rstrip(b"\0").decode()
    return fd, actual


class TapBridge:
    """Connect ``host`` (a node of a :class:`labkit.sim.Network`) to a new TAP device.

    Adds a node ``tap_node`` (kind "switch", so the IP layer leaves it alone)
    linked to ``host``: what ``host`` sends on that link is written to the TAP
    device, and frames the kernel sends are put on the link. Call before
    ``install_ip``/``install_transport`` or after: the tap node is not a host.
    ``delay``, ``bandwidth`` and ``loss`` are those of the simulated link
    between the host and the TAP node (``loss`` in each direction, so frames
    from and to the kernel are lost on labkit's side of the TAP).
    Counters: :attr:`to_kernel`, :attr:`from_kernel`, :attr:`write_errors`.
    """

    def __init__(self, net: Any, host: Any, *, name: str = "labkit0", tap_node: str = "TAP",
                 fd: int | None = None, delay: object = "0s", bandwidth: object = None,
                 loss: float = 0.0) -> None:
        self.net = net
        self.host = host
        if fd is None:
            self.fd, self.name = open_tap(name)
        else:
            self.fd, self.name = fd, name
        try:
            self.node = net.add_switch(tap_node)
            self.link = net.connect(host, self.node, delay=delay, bandwidth=bandwidth, loss=loss)
        except BaseException:
            os.close(self.fd)
            raise
        self.node.set_handler(self._to_kernel)
        self.to_kernel = 0
        self.from_kernel = 0
        self.write_errors = 0
        self._closed = False

    def _to_kernel(self, iface: Any, frame: bytes, now: int) -> None:
        try:
            os.write(self.fd, frame)
            self.to_kernel += 1
        except OSError:  # the interface is down, or its queue is full: the frame is lost
            self.write_errors += 1

    def _read_frames(self, limit: int = 64) -> int:
        n = 0
        port = self.node.interfaces[0]
        for _ in range(limit):
            try:
                frame = os.read(self.fd, _MAX_FRAME)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    break
                raise TapError(exc.errno, f"reading {self.name}: {exc.strerror}") from None
            if not frame:
                break
            if len(frame) > port.channel.max_frame:
                continue  # a giant (offloads are off, so only from a bigger MTU): dropped
            port.send(frame)
            self.from_kernel += 1
            n += 1
        return n

    def run(self, seconds: float, *, until: Callable[[], bool] | None = None,
            tick: float = 0.01) -> int:
        """Run the simulation in step with the wall clock for ``seconds`` (or until ``until()``).

        Frames from the kernel enter the simulation at the virtual time that
        matches the moment they were read. Returns frames moved either way.
        """
        if not (isinstance(seconds, (int, float)) and 0 < seconds <= 3600):
            raise LabkitValueError(f"seconds={seconds!r}: expected a duration in (0, 3600]")
        if self._closed:
            raise TapError(errno.EBADF, f"{self.name}: the bridge is closed")
        engine = self.net.engine
        start_wall = time.monotonic()
        start_virtual = engine.now
        moved_before = self.to_kernel + self.from_kernel
        while True:
            elapsed = time.monotonic() - start_wall
            target = start_virtual + int(elapsed * 1e9)
            if target > engine.now:
                self.net.run(until=f"{target}ns")
            if elapsed >= seconds or (until is not None and until()):
                break
            due = engine.peek()
            wait = tick if due is None else min(tick, max(0.0, (due - target) / 1e9))
            wait = min(wait, max(0.0, seconds - elapsed))
            ready, _, _ = select.select([self.fd], [], [], wait)
            if ready:
                now = start_virtual + int((time.monotonic() - start_wall) * 1e9)
                if now > engine.now:
                    self.net.run(until=f"{now}ns")
                self._read_frames()
        return self.to_kernel + self.from_kernel - moved_before

    def close(self) -> None:
        """Close the descriptor (the kernel removes the device)."""
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def __enter__(self) -> TapBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<TapBridge {self.name} <-> {self.host.name}: {self.to_kernel} frames to the "
                f"kernel, {self.from_kernel} from it>")


#: The page the command line's host serves at ``/`` (``labkit tap``, :mod:`labkit.cli.tap`).
PAGE = "<!doctype html><title>labkit</title><h1>Served by labkit's TCP</h1>\n"


if __name__ == "__main__":  # python -m labkit.tap: the command line is labkit.cli.tap
    from labkit.cli.tap import main

    sys.exit(main())
