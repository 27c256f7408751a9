"""Selftest, discovery, doctor and the `labkit hw` command line, against the simulated pair."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np
import pytest

import labkit.hw  # noqa: F401
from labkit.cli import hw as hw_cli
from labkit.cli import main
from labkit.hw import discovery
from labkit.hw.errors import (
    NoFirmwareError,
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    VersionMismatchError,
)
from labkit.hw.lab import PREAMBLE, bit_error_test, decode, open_pair, transfer
from labkit.hw.selftest import DOCUMENTED_MAX_RATE, progress_bar, run_selftest


@pytest.fixture(scope="module")
def report():
    tx, rx = open_pair(pair="selftest-module")
    try:
        return run_selftest(tx, rx, rng=0)  # DEFAULT_RATES, every line code
    finally:
        tx.close()
        rx.close()


def test_selftest_is_error_free_at_the_documented_rates(report):
    documented = [r for r in report.results if r.bit_rate <= DOCUMENTED_MAX_RATE]
    assert len(documented) == 15  # 5 rates x 3 codes
    assert all(r.errors == 0 for r in documented)
    assert report.passed


def test_selftest_errors_rise_past_the_documented_rates(report):
    by = {(r.code, r.bit_rate): r.errors for r in report.results}
    for code in ("nrz-l", "nrz-i", "manchester"):
        assert all(by[code, rate] == 0 for rate in (1000, 2000, 5000, 10_000, 20_000)), code
    # Manchester's half-bits are twice as short: the RC wire closes its eye first. (The NRZ
    # codes, read by a receiver that recovers the clock from all transitions at once, still
    # get through at the firmware's top rate on this wire.)
    assert by["manchester", 50_000] > 0.1 * 256 and by["nrz-l", 50_000] == 0


def test_selftest_errors_come_from_the_wire():
    """On a wire without the RC filter, a rate that fails on the standard wire is error-free.

    40 000 bit/s Manchester: 5 samples a bit at the digital pin's 200 000 samples/s. (At
    50 000, 4 samples a bit, the host's receiver itself loses the clock when the boards'
    clocks differ by 1 %, whatever the wire.)
    """
    tx, rx = open_pair(pair="fast-wire", wire={"rc_us": 0.1})
    try:
        r = bit_error_test(tx, rx, 40_000, "manchester", np.random.default_rng(1))
    finally:
        tx.close()
        rx.close()
    assert r.errors == 0


def test_table_and_progress_bar(report):
    table = report.table()
    assert "PASS" in table and "past the documented rate" in table
    assert progress_bar(3, 6, "x", width=10) == "[#####.....]  3/6 x"


def test_transfer_and_decode_recover_bytes():
    tx, rx = open_pair(pair="xfer")
    try:
        data = np.unpackbits(np.frombuffer(b"Hi!", np.uint8))
        cap = transfer(tx, rx, np.concatenate([PREAMBLE, data]), 1000, "manchester")
        assert cap.samples.mode == 1 and cap.volts.max() > 4.5
        assert bytes(np.packbits(decode(cap)[:24])) == b"Hi!"
    finally:
        tx.close()
        rx.close()


def test_open_pair_uses_environment_ports(monkeypatch):
    monkeypatch.setenv("LABKIT_TX_PORT", "labkit-sim://envpair/1")
    monkeypatch.setenv("LABKIT_RX_PORT", "labkit-sim://envpair/0")
    tx, rx = open_pair()
    try:
        assert tx.name.endswith("envpair/1") and rx.name.endswith("envpair/0")
    finally:
        tx.close()
        rx.close()
    with pytest.raises(labkit.errors.LabkitValueError):
        open_pair("labkit-sim://same/0", "labkit-sim://same/0")


# ---------------------------------------------------------------- discovery and doctor


def _info(device, vid=None, pid=None, description="n/a"):
    return SimpleNamespace(device=device, vid=vid, pid=pid, description=description)


def test_find_ports_recognises_arduinos_and_clones():
    ports = discovery.find_ports(lambda: [
        _info("/dev/ttyS0"),
        _info("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial"),
        _info("/dev/ttyACM0", 0x2341, 0x0043, "Arduino Uno"),
        _info("/dev/ttyACM1", 0x2341, 0x0058, "Nano Every"),
    ])
    assert [p.device for p in ports] == ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyACM1",
                                         "/dev/ttyS0"]
    assert ports[0].supported and "Uno" in ports[0].board
    assert ports[1].supported and "CH340" in ports[1].board
    assert not ports[2].supported and "not supported" in ports[2].board
    assert "2341:0043" in ports[0].summary()


def test_doctor_with_no_ports():
    (finding,) = discovery.doctor(comports=lambda: [], platform="linux", linux_services=set)
    assert finding.level == "error" and "No serial ports" in finding.text
    assert finding.text.endswith(
        "Without boards, the simulated pair runs the lab: labkit hw selftest --tx sim --rx sim"
    )


@pytest.mark.parametrize(
    ("platform", "ports", "listing"),
    [
        ("linux", [_info("/dev/ttyS0", description="ttyS0")], "/dev/ttyS0 (ttyS0)"),
        ("darwin", [_info("/dev/cu.Bluetooth-Incoming-Port", description="n/a"),
                    _info("/dev/tty.Bluetooth-Incoming-Port", description="n/a")],
         "/dev/cu.Bluetooth-Incoming-Port (n/a)"),
        ("win32", [_info("COM1", description="Communications Port (COM1)"),
                   _info("COM4", 0x8087, 0x0AAA, "Intel(R) Active Management")],
         "COM1 (Communications Port (COM1)), COM4 (Intel(R) Active Management)"),
    ],
)
def test_doctor_with_ports_but_no_board(platform, ports, listing):
    findings = discovery.doctor(comports=lambda: ports, platform=platform, linux_services=set)
    assert [f.level for f in findings] == ["error"]
    assert findings[0].text == (
        f"Serial ports exist ({listing}) but none looks like an Uno or Nano. Name the port "
        "yourself: labkit hw doctor PORT. Without boards, the simulated pair runs the lab: "
        "labkit hw selftest --tx sim --rx sim"
    )


class _Opened:
    """A board that opened: what doctor reads of it."""

    def __init__(self, port):
        from labkit.hw import protocol as P

        self.port = port
        self.banner = P.banner()

    def close(self):
        pass


def test_doctor_on_macos_opens_one_uno_once_as_cu():
    uno = [_info("/dev/tty.usbmodem1101", 0x2341, 0x0043, "IOUSBHostDevice"),
           _info("/dev/cu.usbmodem1101", 0x2341, 0x0043, "IOUSBHostDevice")]
    opened = []

    def opener(port):
        opened.append(port)
        return _Opened(port)

    findings = discovery.doctor(comports=lambda: uno, opener=opener, platform="darwin")
    assert opened == ["/dev/cu.usbmodem1101"]  # one open, one reset
    assert [(f.level, f.port) for f in findings] == [
        ("ok", "/dev/cu.usbmodem1101"), ("ok", "/dev/cu.usbmodem1101")]


def test_doctor_on_macos_says_to_use_cu():
    lone_tty = [_info("/dev/tty.wchusbserial110", 0x1A86, 0x7523, "USB Serial")]
    findings = discovery.doctor(comports=lambda: lone_tty, opener=_Opened, platform="darwin")
    advice = ("use /dev/cu.wchusbserial110, not /dev/tty.wchusbserial110: on macOS the tty. "
              "device waits for a carrier signal a board never gives")
    assert (findings[0].level, findings[0].text) == ("warn", advice)
    named = discovery.doctor(["/dev/tty.wchusbserial110"], opener=_Opened, platform="darwin")
    assert (named[0].level, named[0].text) == ("warn", advice)


def test_doctor_on_linux_names_modemmanager_and_brltty():
    findings = discovery.doctor(
        comports=lambda: [_info("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial")], opener=_Opened,
        platform="linux", linux_services=lambda: {"brltty", "ModemManager"},
    )
    assert [(f.level, f.text) for f in findings[:2]] == [
        ("warn", "ModemManager is running: for about 10 s after a board is plugged in it opens "
         "the port to look for a modem (and sends AT commands to it), so the port is busy or "
         "the board gets bytes it did not expect. Wait 10 s after plugging in, or stop it for "
         "the lab: sudo systemctl stop ModemManager"),
        ("warn", "brltty (a braille display driver) is installed: on Ubuntu it claims CH340 "
         "boards, whose /dev/ttyUSB0 then vanishes a second after it appears (dmesg: "
         "\"interface 0 claimed by ch341 while 'brltty' sets config\"). Without a braille "
         "display, remove it: sudo apt remove brltty"),
    ]
    assert findings[-1].level == "ok"
    quiet = discovery.doctor(["/dev/ttyUSB0"], opener=_Opened, platform="linux",
                             linux_services=set)
    assert [f.level for f in quiet] == ["ok"]


def test_doctor_on_windows_explains_the_semaphore_timeout():
    import serial

    from labkit.hw.board import port_error

    def opener(port):
        raise port_error(port, serial.SerialException(
            "could not open port 'COM3': OSError(22, 'The semaphore timeout period has "
            "expired.', None, 121)"), "win32")

    findings = discovery.doctor(comports=lambda: [_info("COM3", 0x2341, 0x0043, "Arduino Uno")],
                                opener=opener, platform="win32")
    assert findings[-1] == discovery.Finding(
        "error", "COM3",
        "COM3: the port did not answer (Windows: \"the semaphore timeout period has expired\"): "
        "the board's USB connection hung. Unplug the board, wait 5 s, plug it back in (another "
        "USB port or cable if it happens again), then try again.",
    )


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (PortBusyError("P", "busy"), "serial monitor"),
        (PortPermissionError("P", "denied"), "dialout group"),
        (PortNotFoundError("P", "P: no such port"), "no such port"),
        (NoFirmwareError("P", "x", b"Hello\r\n"), "another sketch"),
        (NoFirmwareError("P", "x", b""), "no labkit firmware"),
        (VersionMismatchError("P", "2.0", "1.0"), "protocol 2.0"),
    ],
)
def test_doctor_explains_each_failure(exc, words):
    def opener(port):
        raise exc

    findings = discovery.doctor(
        comports=lambda: [_info("/dev/ttyACM0", 0x2341, 0x0043)], opener=opener,
        platform="linux", in_dialout=lambda: False, linux_services=set,
    )
    assert findings[0].level == "ok"  # it looks like a board...
    assert findings[-1].level == "error" and words in findings[-1].text  # ...but


def test_doctor_on_simulated_boards():
    findings = discovery.doctor(["labkit-sim://doc/0", "labkit-sim://doc2/0?firmware=text"])
    assert findings[0].level == "ok" and "labkit-hw firmware 1.1.0" in findings[0].text
    assert findings[1].level == "error" and "Hello from Blink" in findings[1].text
    text = discovery.format_findings(findings)
    assert text.splitlines()[0].startswith("[ok  ] labkit-sim://doc/0")


# ---------------------------------------------------------------- command line


def test_add_parser_registers_hw():
    parser = argparse.ArgumentParser(prog="labkit")
    add = parser.add_subparsers(dest="command")
    hw_cli.add_parser(add)
    args = parser.parse_args(["hw", "selftest", "--tx", "sim", "--rx", "sim", "--rates", "1000"])
    assert args.hw_command == "selftest" and args.rates == [1000]
    for bad in (["--codes", "morse"], ["--rates", "0"], ["--rates", "fast"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["hw", "selftest", "--tx", "sim", "--rx", "sim", *bad])


def test_the_old_home_still_runs_the_command():
    """``labkit.hw.cli`` re-exports what it had: ``main(["hw", ...])`` and the handlers."""
    from labkit.hw import cli as old

    assert old.main is main and old.cmd_selftest is hw_cli.cmd_selftest


def test_cli_selftest_on_the_simulated_pair(capsys):
    assert main(["hw", "selftest", "--tx", "sim", "--rx", "sim", "--rates",
                     "2000,50000", "--codes", "nrz-l,manchester"]) == 0
    out, err = capsys.readouterr()
    assert "PASS" in out and "50000" in out
    assert "[##############################]  4/4 done" in err


def test_cli_selftest_fails_on_a_slow_wire(capsys):
    # tau = 200 us: far slower than the standard wire, so 20 kbit/s cannot get through.
    slow = "labkit-sim://slow/{}?rc_us=200"
    assert main(["hw", "selftest", "--tx", slow.format(0), "--rx", slow.format(1),
                     "--rates", "1000,20000", "--codes", "nrz-l"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out


def test_cli_selftest_reports_a_missing_port(capsys):
    assert main(["hw", "selftest", "--tx", "/dev/ttyLABKIT-none", "--rx", "sim"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit hw selftest: ") and "no such port" in err


def test_cli_ports_and_doctor(monkeypatch, capsys):
    monkeypatch.setattr(discovery, "_comports", lambda: [_info("/dev/ttyS0")])
    assert main(["hw", "ports"]) == 1
    assert "No boards found" in capsys.readouterr().out
    assert main(["hw", "ports", "--all"]) == 0
    assert "/dev/ttyS0" in capsys.readouterr().out
    assert main(["hw", "doctor", "labkit-sim://cli-doc/0"]) == 0
    assert "[ok  ]" in capsys.readouterr().out


def test_cli_selftest_writes_a_report_the_project_can_keep(tmp_path, capsys):
    import json

    path = tmp_path / "evidence.json"
    assert main(["hw", "selftest", "--tx", "sim", "--rx", "sim", "--rates", "1000,50000",
                 "--codes", "nrz-l,manchester", "--report", str(path)]) == 0
    assert f"report written to {path}" in capsys.readouterr().out
    record = json.loads(path.read_text())
    assert record["format"] == "labkit-hw-selftest/1" and record["passed"] is True
    assert [(b["role"], b["firmware"], b["protocol"], b["f_cpu"]) for b in record["boards"]] == [
        ("tx", "1.1.0", "1.1", 16_000_000), ("rx", "1.1.0", "1.1", 16_000_000)]
    grid = {(r["code"], r["bit_rate"]): r["errors"] for r in record["results"]}
    assert set(grid) == {("nrz-l", 1000), ("nrz-l", 50_000), ("manchester", 1000),
                         ("manchester", 50_000)}
    assert grid["nrz-l", 1000] == grid["manchester", 1000] == 0
    assert grid["manchester", 50_000] > 0  # past the documented rate, as on the real wire
    assert record["errors"] == [] and record["seed"] == 0


def test_selftest_on_real_ports_keeps_a_report_by_default():
    from labkit.hw.selftest import board_record

    real = SimpleNamespace(tx="/dev/ttyACM0", rx="COM4", report=None)
    assert hw_cli._report_path(real).startswith("labkit-selftest-")
    assert hw_cli._report_path(SimpleNamespace(tx="sim", rx="sim", report=None)) is None
    assert hw_cli._report_path(SimpleNamespace(tx="/dev/ttyACM0", rx="COM4", report="-")) is None
    found = discovery.find_ports(lambda: [SimpleNamespace(
        device="/dev/ttyACM0", vid=0x2341, pid=0x0043, description="Arduino Uno",
        serial_number="85739313837351F0E1A1")])
    board = SimpleNamespace(name="/dev/ttyACM0", banner=None)
    assert board_record("tx", board, found[0])["usb"] == {
        "vid": "2341", "pid": "0043", "serial_number": "85739313837351F0E1A1",
        "description": "Arduino Uno", "board": "Arduino Uno R3 (ATmega16U2 USB chip)"}


def test_cli_reports_an_unplugged_board_without_a_traceback(monkeypatch, capsys):
    from labkit.hw.lab import open_pair

    def unplugged_pair(tx, rx, wire=None):
        a, b = open_pair("sim", "sim", pair="cli-unplug")
        a.serial.labkit_pair.boards[0].unplug()
        return a, b

    monkeypatch.setattr(hw_cli, "_open_pair", unplugged_pair)
    assert main(["hw", "send", "hello", "--tx", "sim"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit hw send: labkit-sim://cli-unplug/0: the port went away while "
                          "in use (device reports readiness")
    assert "Traceback" not in err


def test_selftest_with_the_boards_own_receiver(capsys):
    """--receiver board: the simulated receiving board decodes from edge times (RECEIVE)."""
    assert main(["hw", "selftest", "--tx", "sim", "--rx", "sim", "--rates", "20000,100000",
                 "--codes", "nrz-l", "--receiver", "board", "--report", "-"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
            if line.strip()[:1].isdigit()}
    assert " 0/256" in rows["20000"] and " 0/256" not in rows["100000"]


def test_selftest_refuses_an_unknown_receiver():
    from labkit.errors import LabkitValueError
    from labkit.hw.selftest import run_selftest

    with pytest.raises(LabkitValueError, match="receiver"):
        run_selftest(None, None, receiver="scope")  # type: ignore[arg-type]
