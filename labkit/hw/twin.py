"""The twin: the real firmware on two emulated boards (``hardware/twin/twin.c``).

:class:`Twin` builds the firmware and the twin program with ``make`` (once per
Python process, in a private build directory), starts it with the wire's
options, and gives the two boards' pseudo-terminals::

    with Twin(noise_mv=15) as twin:
        a, b = (Board.open(p) for p in twin.ports)

The serial-port URL ``labkit-twin://NAME/0`` and ``.../1`` does the same for
any code that takes a port name (``Board.open``, ``labkit hw selftest --tx
twin --rx twin``): the first port opened starts the twin ``NAME``, closing
both stops it. Query parameters set the wire, as for ``labkit-sim://``:
``rc_us``, ``noise_mv``, ``delay_us``, ``ppm0``, ``ppm1``, ``seed``;
``reset=0`` opens a port without pulsing the board's reset line, and
``host_baud=115200`` runs a firmware built for that host-link rate (opened at
PROTOCOL.md's 500 000 baud, it answers in garbage, as a real board would).
``bootloader=atmegaboot`` starts boards with a blank flash and the Arduino
bootloader (:data:`BOOTLOADERS`), for ``labkit hw flash`` to program: on such a
port, raising DTR resets the board, as it does an Uno.

Opening a real Uno's port resets the board (DTR), which then sends its
banner; the twin's boards are reset the same way when their port opens.

**Time.** The emulated boards are not paced to wall time: they run as fast
as the computer allows (a few times real time on an idle machine, slower on a
busy one). :meth:`Twin.sim_time` reads the simulated clock, which is what
benchmarks measure in. A twin stops on SIGTERM and when the Python process
that started it goes away (its control pipe closes).
"""

from __future__ import annotations

import atexit
import math
import mmap
import queue
import shutil
import struct
import subprocess
import tempfile
import threading
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from labkit.errors import LabkitValueError
from labkit.hw.errors import OPEN_IN_THIS_PROCESS, HwError

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "HARDWARE_DIR",
    "Twin",
    "TwinError",
    "TwinWire",
    "TwinWireOptions",
    "build",
    "missing_tools",
    "twin_url",
]

HARDWARE_DIR = Path(__file__).resolve().parent.parent.parent / "hardware"
SIMAVR_HEADER = Path("/usr/include/simavr/sim_avr.h")
APT_PACKAGES = "gcc-avr avr-libc binutils-avr simavr libsimavr-dev libsimavrparts1"

#: Bootloaders a twin can start from (``bootloader=NAME``), from Debian's arduino-core-avr:
#: ATmegaBOOT, the Duemilanove's and old Nanos' bootloader (STK500v1 at 57 600 baud).
#: (That package's optiboot_atmega328.hex, rebuilt by Debian, is 532 bytes long and runs
#: past the end of the 32 KiB flash: no board could hold it.)
BOOTLOADERS = {
    "atmegaboot": Path("/usr/share/arduino/hardware/arduino/avr/bootloaders/atmega/"
                       "ATmegaBOOT_168_atmega328.hex"),
}
BOOTLOADER_PACKAGE = "arduino-core-avr"


class TwinError(HwError):
    """The twin could not be built, started or asked something."""


@dataclass(frozen=True)
class TwinWire:
    """The wire between the emulated boards (``twin.c``'s command-line options)."""

    rc_us: float = 22.0  #: RC time constant in microseconds
    noise_mv: float = 15.0  #: Gaussian noise on the wire, mV RMS (ADC and digital input)
    delay_us: float = 0.0  #: propagation delay from a sender's pin to the wire
    ppm0: float = 5000.0  #: board 0's clock error, parts per million (+0.5 %: a ceramic resonator)
    ppm1: float = -5000.0  #: board 1's clock error (-0.5 %)
    seed: int = 1  #: seed of the noise
    #: hysteresis of the receiver's digital input (D8), mV: it goes high above 2.5 V + hyst/2
    #: and low below 2.5 V - hyst/2 (at most 1000: the datasheet's VIL = 0.3 VCC and
    #: VIH = 0.6 VCC bound the thresholds to 1.5-3.0 V). Not modelled by the simulated pair.
    hyst_mv: float = 0.0
    #: the sender's output resistance, ohms, in series with the wire's 10 kΩ (about 25 for an
    #: ATmega pin): tau grows by rout_ohm / 10 kΩ. Not modelled by the simulated pair.
    rout_ohm: float = 0.0

    def __post_init__(self) -> None:
        limits = {"rc_us": (0, 1e6), "noise_mv": (0, 1e5), "delay_us": (0, 1e6),
                  "ppm0": (-49_999, 49_999), "ppm1": (-49_999, 49_999), "seed": (0, 2**32 - 1),
                  "hyst_mv": (0, 1000), "rout_ohm": (0, 1000)}
        for name, (lo, hi) in limits.items():
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if name == "seed":
                ok = isinstance(v, int) and not isinstance(v, bool)
            if not ok or not lo <= v <= hi:
                raise LabkitValueError(f"{name}={v!r}: expected a number from {lo:g} to {hi:g}")

    def args(self) -> list[str]:
        return [x for k, v in asdict(self).items() for x in (f"--{k.replace('_', '-')}", repr(v))]


class TwinWireOptions(TypedDict, total=False):
    """:class:`TwinWire`'s fields as keyword arguments (``Twin(noise_mv=0)``)."""

    rc_us: float
    noise_mv: float
    delay_us: float
    ppm0: float
    ppm1: float
    seed: int
    hyst_mv: float
    rout_ohm: float


def missing_tools() -> list[str]:
    """What this machine lacks to build and run the twin (empty when nothing)."""
    missing = [t for t in ("avr-gcc", "make", "cc") if shutil.which(t) is None]
    if not SIMAVR_HEADER.exists():
        missing.append("simavr development files")
    if not (HARDWARE_DIR / "Makefile").exists():
        missing.append(f"the hardware/ folder ({HARDWARE_DIR})")
    return missing


_builds: dict[int, Path] = {}
_build_lock = threading.Lock()


def _cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def build(host_baud: int = 500_000, build_dir: str | Path | None = None) -> Path:
    """Build firmware and twin with ``make`` (once per process); returns the build directory.

    Without ``build_dir`` a private temporary directory is used (removed at
    exit), so that parallel test runs never share files.
    """
    missing = missing_tools()
    if missing:
        raise TwinError(
            f"the twin needs {', '.join(missing)} (Debian: apt-get install "
            f"--no-install-recommends {APT_PACKAGES})"
        )
    with _build_lock:
        if build_dir is None and host_baud in _builds:
            return _builds[host_baud]
        if build_dir is None:
            out = Path(tempfile.mkdtemp(prefix="labkit-twin-"))
            atexit.register(_cleanup, out)
        else:
            out = Path(build_dir)
            out.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["make", "-s", "-C", str(HARDWARE_DIR), f"BUILD={out}", f"HOST_BAUD={host_baud}",
             "twin"],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise TwinError(f"make twin failed:\n{proc.stderr.strip()[-2000:]}")
        if build_dir is None:
            _builds[host_baud] = out
        return out


class Twin:
    """A running twin: two emulated boards, their wire, and their two ports."""

    def __init__(
        self,
        wire: TwinWire | None = None,
        *,
        host_baud: int = 500_000,
        build_dir: str | Path | None = None,
        start: bool = True,
        bootloader: str | None = None,
        **options: Unpack[TwinWireOptions],
    ) -> None:
        if wire is not None and options:
            raise LabkitValueError("give either wire= or the wire's options, not both")
        self.wire = wire or TwinWire(**options)
        self.host_baud = host_baud
        self.build_dir = build_dir
        if bootloader is not None and bootloader not in BOOTLOADERS:
            raise LabkitValueError(f"bootloader={bootloader!r}: known: {sorted(BOOTLOADERS)}")
        self.bootloader = bootloader  #: a name in BOOTLOADERS: blank flash, start there
        self.ports: tuple[str, str] = ("", "")
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue[str] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=20)
        self._lock = threading.Lock()
        self._clock: mmap.mmap | None = None
        self._dir: Path | None = None
        if start:
            self.start()

    # ------------------------------------------------------------------ life

    def start(self, timeout: float = 30.0) -> None:
        if self._proc is not None:
            raise TwinError("this twin is already running")
        out = build(self.host_baud, self.build_dir)
        self._dir = Path(tempfile.mkdtemp(prefix="labkit-twin-run-"))
        clock_file = self._dir / "clock"
        clock_file.write_bytes(bytes(8))
        with open(clock_file, "r+b") as f:
            self._clock = mmap.mmap(f.fileno(), 8)
        program = [str(out / "labkit_hw.elf")]
        if self.bootloader is not None:
            boot = BOOTLOADERS[self.bootloader]
            if not boot.exists():
                raise TwinError(f"the twin's bootloader {boot} is missing (Debian: apt-get "
                                f"install --no-install-recommends {BOOTLOADER_PACKAGE})")
            program = ["none", "--bootloader", str(boot)]
        cmd = [str(out / "twin"), *program, *self.wire.args(), "--control",
               "--clock-file", str(clock_file)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        names: list[str] = []
        while len(names) < 2:
            line = self._reply(timeout, "the pty names")
            if line.startswith("board"):
                names.append(line.split()[1])
        self.ports = (names[0], names[1])

    def _read_stdout(self) -> None:
        # simavr prints its messages on stdout too: read everything, or both cores stall.
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(("board", "reset", "time", "error")):
                self._replies.put(line.strip())
        self._replies.put("")  # end of output: the twin has stopped

    def _read_stderr(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line.rstrip())

    def _reply(self, timeout: float, what: str) -> str:
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise TwinError(f"the twin did not send {what} within {timeout:g} s") from None
        if not line:
            self._replies.put("")
            raise TwinError(f"the twin stopped: {' / '.join(self._stderr) or 'no message'}")
        return line

    def _command(self, text: str, answer: str, timeout: float = 10.0) -> str:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise TwinError("the twin is not running")
        with self._lock:
            assert proc.stdin is not None
            try:
                proc.stdin.write(text + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError):
                raise TwinError("the twin is not running") from None
            while True:
                line = self._reply(timeout, f"an answer to {text!r}")
                if line.startswith(answer):
                    return line
                if line.startswith("error"):
                    raise TwinError(f"the twin refused {text!r}: {line}")

    def reset(self, index: int) -> None:
        """Pulse board ``index``'s reset line: its firmware restarts and sends the banner."""
        if index not in (0, 1):
            raise LabkitValueError(f"index={index!r}: the twin has boards 0 and 1")
        self._command(f"reset {index}", f"reset {index}")

    def sim_time(self) -> float:
        """Simulated seconds since the twin started (board 0's clock).

        Read from memory shared with the twin, so it costs no round trip; it lags
        the boards by at most 1024 instructions. Raises :class:`TwinError` once
        the twin has stopped, so that a loop waiting for simulated time never hangs.
        """
        if self._clock is None or not self.running:
            raise TwinError(f"the twin is not running: {' / '.join(self._stderr) or 'stopped'}")
        return struct.unpack("d", self._clock[:8])[0]

    def asked_time(self) -> float:
        """The simulated time, asked through the control pipe (slower than :meth:`sim_time`)."""
        return float(self._command("time", "time").split()[1])

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the twin (SIGTERM, then SIGKILL if it hangs); returns its exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if self._clock is not None:
            self._clock.close()
            self._clock = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        return proc.returncode

    def __enter__(self) -> Twin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None:
            self.stop()

    def __repr__(self) -> str:
        state = f"ports {self.ports[0]} {self.ports[1]}" if self.running else "stopped"
        return f"<Twin {state}, {self.wire}>"


# ---------------------------------------------------------------------- URLs

_URL_KEYS = {"rc_us": float, "noise_mv": float, "delay_us": float, "ppm0": float,
             "ppm1": float, "seed": int, "hyst_mv": float, "rout_ohm": float}


def twin_url(name: str, index: int, **wire: object) -> str:
    """``labkit-twin://NAME/INDEX?...``: a port on the twin ``NAME`` (started on first use)."""
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in wire.items() if v is not None})
    return f"labkit-twin://{name}/{index}" + (f"?{query}" if query else "")


@dataclass
class _Shared:
    twin: Twin
    open_ports: set[int]


_TWINS: dict[str, _Shared] = {}
_TWINS_LOCK = threading.Lock()


def acquire(name: str, index: int, wire: TwinWire, host_baud: int = 500_000,
            bootloader: str | None = None) -> Twin:
    """The twin ``name`` (started if needed, its firmware built for ``host_baud``, or blank
    with ``bootloader``) with port ``index`` marked open."""
    with _TWINS_LOCK:
        shared = _TWINS.get(name)
        if shared is not None and not shared.twin.running:
            _TWINS.pop(name)
            shared = None
        if shared is None:
            shared = _TWINS[name] = _Shared(
                Twin(wire, host_baud=host_baud, bootloader=bootloader), set())
        elif (wire != shared.twin.wire or host_baud != shared.twin.host_baud
              or bootloader != shared.twin.bootloader):
            raise TwinError(
                f"twin {name!r} is already running with {shared.twin.wire}, firmware at "
                f"{shared.twin.host_baud} baud, bootloader {shared.twin.bootloader}; close both "
                "its ports, or use another name, to "
                "change them"
            )
        if index in shared.open_ports:
            raise TwinError(f"labkit-twin://{name}/{index} is {OPEN_IN_THIS_PROCESS}")
        shared.open_ports.add(index)
        return shared.twin


def release(name: str, index: int) -> None:
    """Port ``index`` of twin ``name`` closed: stop the twin when neither port is open."""
    with _TWINS_LOCK:
        shared = _TWINS.get(name)
        if shared is None:
            return
        shared.open_ports.discard(index)
        if not shared.open_ports:
            _TWINS.pop(name)
            shared.twin.stop()


def running_twins() -> dict[str, Twin]:
    """The twins started through ``labkit-twin://`` URLs that are still running."""
    return {k: v.twin for k, v in _TWINS.items()}


#: Host-link rates a twin's firmware can be built for (``host_baud=`` in a URL): UBRR0 =
#: 16 MHz / (8 * baud) - 1 must be a whole number, or close (115200: 117647 really).
HOST_BAUDS = (500_000, 250_000, 1_000_000, 115_200, 57_600)


def parse_url(url: str) -> tuple[str, int, TwinWire, bool, int, str | None]:
    """Split ``labkit-twin://NAME/INDEX?k=v`` into (name, index, wire, reset on open, the
    firmware's host baud rate, the bootloader's name or None)."""
    from labkit.hw.urls import PairURLError, split_pair_url

    try:
        name, index, options = split_pair_url(url, "labkit-twin")
    except PairURLError as exc:
        message = f"{url}: a twin has boards 0 and 1" if exc.index else str(exc)
        raise LabkitValueError(message) from None
    wire: dict = {}
    reset = True
    host_baud = 500_000
    bootloader: str | None = None
    for key, value in options:
        if key == "host_baud":
            if not value.isdigit() or int(value) not in HOST_BAUDS:
                raise LabkitValueError(
                    f"{url}: option host_baud={value!r}: the firmware can be built for "
                    f"{', '.join(map(str, HOST_BAUDS))} baud"
                )
            host_baud = int(value)
        elif key in _URL_KEYS:
            try:
                wire[key] = _URL_KEYS[key](value)
            except ValueError:
                raise LabkitValueError(f"{url}: option {key}={value!r}: not a number") from None
        elif key == "bootloader":
            if value not in BOOTLOADERS:
                raise LabkitValueError(
                    f"{url}: option bootloader={value!r}: known: {sorted(BOOTLOADERS)}")
            bootloader = value
        elif key == "reset":
            reset = value not in ("0", "false", "no")
        else:
            raise LabkitValueError(
                f"{url}: option {key}={value!r}: unknown (known: {sorted(_URL_KEYS)}, reset, "
                "host_baud, bootloader)"
            )
    return name, index, TwinWire(**wire), reset, host_baud, bootloader


def _stop_all() -> None:
    for shared in list(_TWINS.values()):
        shared.twin.stop()
    _TWINS.clear()


atexit.register(_stop_all)
