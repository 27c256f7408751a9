"""`labkit hw flash` on an emulated board running the real Arduino bootloader, and the
shipped firmware against a fresh build.

The board is the twin (hardware/twin/twin.c) started with ``--bootloader``:
a blank flash and Debian's ATmegaBOOT_168_atmega328.hex (arduino-core-avr, the
old Nano's bootloader, STK500v1 at 57 600 baud), reached as
``labkit-twin://NAME/0?bootloader=atmegaboot``. ``labkit hw flash twin``
writes labkit's firmware through it; avrdude, the uploader the Arduino IDE
uses, then reads the flash back on its own, and the board, reset, runs the
firmware and answers PING.

Without the toolchain or the bootloader these tests are skipped, naming the
packages; with LABKIT_REQUIRE_TWIN set (CI) that is a failure. The avrdude
cross-check is skipped where avrdude is not installed, and fails then in CI
(which installs it).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from contextlib import redirect_stdout
from importlib import resources

import pytest

import labkit.hw  # noqa: F401  (registers labkit-twin://)
from labkit.cli import main
from labkit.hw import Board
from labkit.hw.board import open_serial
from labkit.hw.stk500 import APP_SIZE, NoSyncError, firmware_hex, flash, parse_hex
from labkit.hw.twin import BOOTLOADER_PACKAGE, BOOTLOADERS, HARDWARE_DIR, missing_tools

BOOT = BOOTLOADERS["atmegaboot"]
MISSING = missing_tools()
if not BOOT.exists():
    MISSING.append(f"the Arduino bootloader {BOOT} ({BOOTLOADER_PACKAGE})")
REASON = (f"needs {', '.join(MISSING)} (apt-get install --no-install-recommends gcc-avr "
          f"avr-libc binutils-avr simavr libsimavr-dev libsimavrparts1 {BOOTLOADER_PACKAGE})")
if MISSING and os.environ.get("LABKIT_REQUIRE_TWIN"):
    raise RuntimeError(f"LABKIT_REQUIRE_TWIN is set but the flash tests cannot run: {REASON}")
pytestmark = pytest.mark.skipif(bool(MISSING), reason=REASON)

URL = "labkit-twin://flash/{}?bootloader=atmegaboot"  # the twin `labkit hw flash twin` opens


@pytest.fixture(scope="module")
def flashed():
    """A blank twin board flashed once by `labkit hw flash twin`: (the twin, its output)."""
    keep = open_serial(URL.format(1))  # the other board holds the twin up between opens
    try:
        out = io.StringIO()
        with redirect_stdout(out):
            status = main(["hw", "flash", "twin"])
        assert status == 0, out.getvalue()
        yield keep.labkit_twin, out.getvalue()
    finally:
        keep.close()


def test_the_shipped_hex_is_what_make_builds(tmp_path):
    """labkit/hw/firmware/labkit_hw.hex cannot go stale: after changing the firmware,
    `make -C hardware packaged-hex` and commit."""
    subprocess.run(["make", "-s", "-C", str(HARDWARE_DIR), f"BUILD={tmp_path}",
                    f"{tmp_path}/labkit_hw.hex"], check=True, capture_output=True)
    shipped = resources.files("labkit.hw").joinpath("firmware/labkit_hw.hex").read_bytes()
    assert (tmp_path / "labkit_hw.hex").read_bytes() == shipped, (
        "the shipped firmware differs from a fresh build: run make -C hardware packaged-hex")


def test_flash_the_real_bootloader_then_the_firmware_runs(flashed):
    _, out = flashed
    image = parse_hex(firmware_hex(), max_size=APP_SIZE)
    assert f"wrote and verified {image.size} bytes ({len(image.pages())} pages" in out
    assert "at 57600 baud" in out  # ATmegaBOOT's rate, after no answer at 115200
    # reset: the bootloader waits for an uploader, times out, starts the firmware
    board = Board.open(URL.format(0))
    try:
        assert board.banner is not None and board.banner.name == b"labkit-hw"
        assert board.ping(b"flashed") == b"flashed"
    finally:
        board.close()


NO_AVRDUDE = shutil.which("avrdude") is None
if NO_AVRDUDE and not MISSING and os.environ.get("LABKIT_REQUIRE_TWIN"):
    raise RuntimeError("LABKIT_REQUIRE_TWIN is set but avrdude, the flash tests' cross-check, "
                       "is not installed (apt-get install --no-install-recommends avrdude)")


@pytest.mark.skipif(NO_AVRDUDE, reason="the cross-check needs avrdude (apt-get install avrdude)")
def test_avrdude_reads_back_what_labkit_wrote(flashed, tmp_path):
    """avrdude, the Arduino IDE's uploader, reads the board's flash on its own."""
    tw, _ = flashed
    for _ in range(4):
        # avrdude counts its timeouts in wall time, and the twin may run at a tenth of
        # real time on a loaded machine: then its sync replies come late and avrdude
        # gives up out of step ("expects OK byte 0x10 but got 0x14"). Try again.
        tw.reset(0)  # into the bootloader: avrdude cannot pulse DTR on a pty
        read = subprocess.run(
            ["avrdude", "-q", "-p", "m328p", "-c", "arduino", "-P", tw.ports[0], "-b", "57600",
             "-U", f"flash:r:{tmp_path / 'back.hex'}:i"], capture_output=True, text=True,
            timeout=300)
        if read.returncode == 0:
            break
    assert read.returncode == 0, read.stderr
    back = parse_hex((tmp_path / "back.hex").read_text(), max_size=32768).data
    image = parse_hex(firmware_hex(), max_size=APP_SIZE).data
    assert all(back.get(a, 0xFF) == b for a, b in image.items())
    assert all(v == 0xFF for a, v in back.items() if a not in image and a < 0x7800)
    assert back[0x7800] != 0xFF  # and the bootloader, where ATmegaBOOT lives


def test_a_port_without_a_bootloader_is_named():
    """The normal twin runs labkit firmware and no bootloader: GET_SYNC gets no answer."""
    with pytest.raises(NoSyncError, match="no bootloader answered") as info:
        flash("labkit-twin://flashnoboot/0", attempts=2)
    assert "tried 115200 and 57600 baud" in str(info.value)
