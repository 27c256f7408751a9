"""labkit.hw.stk500: the Intel HEX parser, and STK500v1 against a fake Arduino bootloader.

The fake (:class:`FakeBootloader`) is a serial port that answers as optiboot
does (optiboot.c in Debian's arduino-core-avr): in sync only after a reset,
LOAD_ADDRESS in words, PROG_PAGE into a 32 KiB flash, READ_PAGE out of it.
Its clock is virtual: a read that finds nothing advances it by the port's
read timeout, so the timeout tests take no wall time. The real bootloader, in
simavr, is tests/test_hw_flash.py's.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import LabkitError
from labkit.hw import stk500
from labkit.hw.errors import BoardGoneError, NoFirmwareError, VersionMismatchError
from labkit.hw.stk500 import (
    ATMEGA328P,
    HexError,
    NoSyncError,
    Stk500,
    Stk500Error,
    Stk500Timeout,
    VerifyError,
    WrongChipError,
    parse_hex,
)


def record(address: int, kind: int, payload: bytes) -> str:
    body = bytes([len(payload), address >> 8, address & 0xFF, kind]) + payload
    return ":" + (body + bytes([-sum(body) & 0xFF])).hex().upper()


def to_hex(data: dict[int, int], width: int = 16) -> str:
    """An Intel HEX file for ``data`` (runs of consecutive bytes, ``width`` a line)."""
    lines, base = [], 0
    addresses = sorted(data)
    i = 0
    while i < len(addresses):
        start = addresses[i]
        run = [data[start]]
        while (i + len(run) < len(addresses) and addresses[i + len(run)] == start + len(run)
               and len(run) < width and (start + len(run)) & 0xFFFF):
            run.append(data[start + len(run)])
        if start >> 16 != base:
            base = start >> 16
            lines.append(record(0, 0x04, bytes([base >> 8, base & 0xFF])))
        lines.append(record(start & 0xFFFF, 0x00, bytes(run)))
        i += len(run)
    return "\n".join([*lines, ":00000001FF"]) + "\n"


# ---------------------------------------------------------------------- Intel HEX


def test_parses_what_avr_objcopy_writes():
    text = (":100000000C9434000C9446000C9446000C9446006A\n"
            ":027FFE00040479\n"
            ":0400000300007E007B\n"
            ":00000001FF\n")
    image = parse_hex(text)
    assert image.data[0] == 0x0C and image.data[1] == 0x94 and image.data[15] == 0x00
    assert image.data[0x7FFE] == 0x04 and image.size == 18 and image.end == 0x8000
    pages = image.pages(128)
    assert [a for a, _ in pages] == [0, 0x7F80]
    assert pages[0][1][:4] == bytes.fromhex("0C943400") and pages[0][1][16:] == b"\xff" * 112


def test_the_shipped_firmware_parses_and_fits_the_uno():
    image = parse_hex(stk500.firmware_hex(), max_size=stk500.APP_SIZE)
    assert 2000 < image.size < stk500.APP_SIZE
    assert image.data[0] == 0x0C  # jmp: the reset vector of avr-gcc's vector table


@given(st.dictionaries(st.integers(0, 0x1FFFF), st.integers(0, 255), max_size=300),
       st.integers(1, 32))
def test_round_trip(data, width):
    assert parse_hex(to_hex(data, width), max_size=0x20000).data == data


@pytest.mark.parametrize(("line", "field"), [
    (":10000000", "length"),                                  # short line
    ("10000000FF", "start code"),
    (":0200000001020B", "checksum"),                          # 02 00 00 00 01 02 wants FB
    (":02000006AABB93", "record type"),
    (":0300000001020B", "byte count"),
    (":02000000GG02FB", "data"),
    (":020000000102ZZ", "checksum"),
    (":02000000+102FB", "data"),                              # int(x, 16) would take these
    (":02000000_102FB", "data"),
    (":020000000\u066202FB", "data"),                          # ARABIC-INDIC DIGIT TWO
])
def test_bad_lines_name_the_line_and_field(line, field):
    good = record(0, 0, b"\x01\x02")
    assert good == ":020000000102FB"
    with pytest.raises(HexError) as info:
        parse_hex(f"{good}\n{line}\n:00000001FF\n")
    assert info.value.line == 2 and info.value.field == field
    assert "line 2" in str(info.value) and field in str(info.value)


def test_file_level_errors():
    with pytest.raises(HexError, match="no end-of-file") as info:
        parse_hex(record(0, 0, b"\x01") + "\n")
    assert info.value.field == "record"
    with pytest.raises(HexError, match="after the end-of-file record on line 1"):
        parse_hex(":00000001FF\n" + record(0, 0, b"\x01") + "\n")
    with pytest.raises(HexError, match="written twice") as info:
        parse_hex("\n".join([record(0, 0, b"\x01"), record(0, 0, b"\x02"), ":00000001FF"]))
    assert info.value.field == "address" and info.value.line == 2
    with pytest.raises(HexError, match="past the end of 32256 bytes") as info:
        parse_hex(record(0x7E00, 0, b"\x01") + "\n:00000001FF\n", max_size=32256)
    assert info.value.value == "0x7E00"
    with pytest.raises(HexError, match="ASCII") as info:
        parse_hex(b":00000001FF\n\xff\n")
    assert info.value.line == 2


@given(st.integers(0, 0xFFFF), st.binary(min_size=1, max_size=32), st.integers(1, 255))
def test_any_wrong_checksum_is_named(address, payload, delta):
    good = record(address, 0, payload)
    wrong = (int(good[-2:], 16) + delta) & 0xFF
    with pytest.raises(HexError) as info:
        parse_hex(f"{good[:-2]}{wrong:02X}\n:00000001FF\n")
    assert info.value.field == "checksum" and info.value.line == 1
    assert info.value.value == f"{wrong:02X}"


@given(st.integers(6, 255), st.binary(max_size=8))
def test_any_unknown_record_type_is_named(kind, payload):
    with pytest.raises(HexError) as info:
        parse_hex(record(0, kind, payload) + "\n:00000001FF\n")
    assert info.value.field == "record type" and info.value.value == f"{kind:02X}"


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_hex_error(text):
    try:
        parse_hex(text)
    except HexError as exc:
        assert exc.line >= 1 and exc.field


@given(st.dictionaries(st.integers(0, 4000), st.integers(0, 255), min_size=1, max_size=60),
       st.data())
def test_truncated_files_are_refused(data, draw):
    text = to_hex(data)
    cut = draw.draw(st.integers(0, len(text) - len(":00000001FF\n") - 1))
    with pytest.raises(HexError):
        parse_hex(text[:cut])


# ---------------------------------------------------------------------- a fake bootloader


class FakeBootloader:
    """A serial port with optiboot behind it (the parts of STK500v1 it implements)."""

    def __init__(self, signature: bytes = ATMEGA328P, *, resets: bool = True,
                 silent_after: int | None = None, flip: int | None = None,
                 baudrate: int = 115_200, listens_at: int = 115_200) -> None:
        self.signature = signature
        self.flash = bytearray(b"\xff" * 32768)
        self.listening = not resets  # a real board listens only after a reset
        self.silent_after = silent_after  # stop answering after this many commands
        self.flip = flip  # an address whose byte reads back wrong (a flaky flash)
        self.wrong_rate = baudrate != listens_at
        self.timeout: float | None = 0.05
        self.now = 0.0
        self._dtr = True
        self.rts = True
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.address = 0
        self.commands: list[int] = []
        self.left_progmode = False
        self.closed = False

    def labkit_clock(self) -> float:
        return self.now

    @property
    def dtr(self) -> bool:
        return self._dtr

    @dtr.setter
    def dtr(self, level: bool) -> None:
        if level and not self._dtr:  # the auto-reset capacitor: a pulse on RESET
            self.listening = True
            self.inbox.clear()
            self.outbox.clear()
        self._dtr = level

    def reset_input_buffer(self) -> None:
        self.outbox.clear()

    def write(self, data: bytes) -> int:
        if self.wrong_rate:
            data = bytes(b ^ 0x5A for b in data)  # what a UART at another rate makes of it
        self.inbox += data
        self._run()
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self.outbox:
            self.now += self.timeout or 0
            return b""
        out = bytes(self.outbox[:size])
        del self.outbox[:size]
        return out

    def _reply(self, body: bytes = b"") -> None:
        self.outbox += bytes([0x14]) + body + bytes([0x10])

    def _run(self) -> None:  # noqa: C901  (one branch a command, as optiboot's loop)
        need = {0x30: 2, 0x50: 2, 0x51: 2, 0x75: 2, 0x55: 4}
        while self.inbox and self.listening:
            cmd = self.inbox[0]
            if cmd in (0x64, 0x74):
                if len(self.inbox) < 5:
                    return
                n = self.inbox[1] << 8 | self.inbox[2]
                size = 4 + (n if cmd == 0x64 else 0) + 1  # command, length, 'F', data, EOP
            else:
                size = need.get(cmd, 1)
            if len(self.inbox) < size:
                return
            frame, self.inbox = bytes(self.inbox[:size]), self.inbox[size:]
            if frame[-1] != 0x20 or cmd not in (*need, 0x64, 0x74):
                continue  # optiboot would wait for its watchdog; nothing answers
            if self.silent_after is not None and len(self.commands) >= self.silent_after:
                return
            self.commands.append(cmd)
            if cmd == 0x55:
                self.address = 2 * (frame[1] | frame[2] << 8)
                self._reply()
            elif cmd == 0x64:
                data = frame[4:-1]
                self.flash[self.address:self.address + len(data)] = data
                self._reply()
            elif cmd == 0x74:
                n = frame[1] << 8 | frame[2]
                page = bytearray(self.flash[self.address:self.address + n])
                if self.flip is not None and self.address <= self.flip < self.address + n:
                    page[self.flip - self.address] ^= 0x01
                self._reply(bytes(page))
            elif cmd == 0x75:
                self._reply(self.signature)
            else:
                if cmd == 0x51:
                    self.left_progmode = True
                self._reply()


def opening(make):
    """A stand-in for stk500._open: the port at ``rate`` is ``make(rate)``."""

    @contextmanager
    def opened(port, rate):
        yield make(rate)

    return opened


def _stk(fake: FakeBootloader) -> Stk500:
    return Stk500(fake, "COM7", sleep=lambda s: None)


def _image(n: int = 1000, seed: int = 3) -> stk500.HexImage:
    import random

    r = random.Random(seed)
    return stk500.HexImage({a: r.randrange(256) for a in range(n)})


def test_reset_sync_write_verify_leave():
    fake = FakeBootloader()
    stk = _stk(fake)
    stk.reset()
    stk.sync()
    stk.check_chip()
    stk.enter()
    seen = []
    pages = stk.write_image(_image(1000), lambda stage, d, t: seen.append((stage, d, t)))
    stk.leave()
    assert pages == 8  # 1000 bytes: 7 full pages and one partial, padded with 0xFF
    assert bytes(fake.flash[:1000]) == bytes(_image(1000).data[a] for a in range(1000))
    assert fake.flash[1000:1024] == b"\xff" * 24
    assert seen[0] == ("write", 1, 8) and seen[7] == ("write", 8, 8) and seen[-1] == ("verify", 8, 8)
    assert fake.commands.count(0x64) == 8 and fake.commands.count(0x74) == 8
    assert fake.left_progmode


def test_load_address_is_in_words():
    fake = FakeBootloader(resets=False)
    stk = _stk(fake)
    stk.program_page(0x1F80, bytes(range(128)))
    assert fake.address == 0x1F80 and fake.flash[0x1F80:0x2000] == bytes(range(128))
    assert stk.read_page(0x1F80, 4) == bytes([0, 1, 2, 3])
    with pytest.raises(LabkitError, match="even flash address"):
        stk.load_address(3)


def test_no_sync_without_a_reset_names_the_port():
    fake = FakeBootloader()
    stk = _stk(fake)  # no reset(): a board running its program does not listen
    with pytest.raises(NoSyncError, match="COM7: no bootloader answered") as info:
        stk.sync(attempts=3)
    assert "RESET button" in str(info.value)
    assert fake.now == pytest.approx(3 * 0.2, abs=0.06)  # three tries, each timed out


def test_wrong_chip():
    fake = FakeBootloader(signature=bytes([0x1E, 0x94, 0x06]), resets=False)
    with pytest.raises(WrongChipError, match="ATmega168 .signature 1E 94 06.") as info:
        _stk(fake).check_chip()
    assert info.value.signature == bytes([0x1E, 0x94, 0x06])


def test_verify_mismatch_names_the_address():
    fake = FakeBootloader(resets=False, flip=300)
    image = _image(1000)
    with pytest.raises(VerifyError, match="0x012C") as info:
        _stk(fake).write_image(image)
    assert info.value.address == 300 and info.value.wrote == image.data[300]
    assert info.value.read == image.data[300] ^ 1


def test_a_bootloader_that_stops_answering_times_out():
    fake = FakeBootloader(resets=False, silent_after=4)
    stk = _stk(fake)
    with pytest.raises(Stk500Timeout, match="stopped answering LOAD_ADDRESS: 0 of 1 bytes"):
        stk.write_image(_image(1000))
    assert isinstance(Stk500Timeout("p", "m"), TimeoutError)
    assert fake.now == pytest.approx(1.0, abs=0.06)  # the 1 s read timeout, virtual


def test_out_of_sync_reply_is_an_error():
    fake = FakeBootloader(resets=False)
    stk = _stk(fake)
    fake.outbox += b"\x15"  # STK_NOSYNC left over
    orig = fake.write
    fake.write = lambda data: (fake.outbox.clear(), fake.outbox.extend(b"\x15"), len(data))[-1]
    with pytest.raises(Stk500Error, match="STK_NOSYNC, not STK_INSYNC"):
        stk.signature()
    fake.write = orig
    assert stk.signature() == ATMEGA328P


def test_flash_tries_the_old_bootloaders_rate(monkeypatch):
    """115 200 first; a Nano with ATmegaBOOT answers only at 57 600."""
    fakes: list[FakeBootloader] = []

    @contextmanager
    def opened(port, rate):
        fakes.append(FakeBootloader(baudrate=rate, listens_at=57_600))
        fakes[-1].flash = fakes[0].flash  # one board, opened twice
        yield fakes[-1]
        fakes[-1].closed = True

    monkeypatch.setattr(stk500, "_open", opened)
    monkeypatch.setattr(stk500.time, "sleep", lambda s: None)
    result = stk500.flash("/dev/ttyUSB0", to_hex({0: 0x0C, 1: 0x94, 200: 7}))
    assert result.baudrate == 57_600 and result.pages == 2 and result.size == 3
    assert fakes[0].flash[:2] == b"\x0c\x94" and fakes[0].flash[200] == 7
    assert "wrote and verified 3 bytes (2 pages of 128) at 57600 baud" in result.summary()
    assert [f.closed for f in fakes] == [True, True]


def test_flash_with_no_bootloader_at_any_rate(monkeypatch):
    monkeypatch.setattr(stk500, "_open", opening(
        lambda rate: FakeBootloader(listens_at=9600, baudrate=rate)))
    monkeypatch.setattr(stk500.time, "sleep", lambda s: None)
    with pytest.raises(NoSyncError, match=r"tried 115200 and 57600 baud"):
        stk500.flash("/dev/ttyACM0", attempts=2)


def test_flash_refuses_a_bad_file_before_opening_the_port(monkeypatch):
    monkeypatch.setattr(stk500, "_open", lambda *a: pytest.fail("opened the port"))
    with pytest.raises(HexError, match="line 1"):
        stk500.flash("/dev/ttyACM0", ":0000000AFF\n", source="x.hex")
    with pytest.raises(HexError, match="no bytes"):
        stk500.flash("/dev/ttyACM0", ":00000001FF\n")


@pytest.mark.parametrize("exc", [
    NoFirmwareError("P", "x", b"Hello\r\n"), NoFirmwareError("P", "x", b""),
    VersionMismatchError("P", "2.0", "1.0"),
])
def test_doctor_names_the_one_command_that_flashes(exc):
    """A board without labkit firmware (or an older one): the doctor says `labkit hw flash`."""
    from types import SimpleNamespace

    from labkit.hw import discovery

    info = SimpleNamespace(device="/dev/ttyACM0", vid=0x2341, pid=0x0043, description="Uno")

    def opener(port):
        raise exc

    findings = discovery.doctor(comports=lambda: [info], opener=opener, platform="linux",
                                in_dialout=lambda: True, linux_services=set)
    assert findings[-1].level == "error"
    assert "labkit hw flash /dev/ttyACM0" in findings[-1].text


@given(st.dictionaries(st.integers(0, 4000), st.integers(0, 255), min_size=1, max_size=40),
       st.data())
def test_one_changed_character_parses_or_is_named(data, draw):
    """A damaged file: never an IndexError or a wrong silent parse of a changed checksum."""
    text = to_hex(data)
    at = draw.draw(st.integers(0, len(text) - 1))
    new = draw.draw(st.characters(codec="utf-8"))
    damaged = text[:at] + new + text[at + 1:]
    try:
        got = parse_hex(damaged, max_size=0x20000).data
    except HexError as exc:
        assert exc.line >= 1 and exc.field
    else:  # what still parses changed a digit's case, a line ending, or nothing
        assert got == data


def test_a_port_that_goes_away_mid_flash_is_named():
    import serial

    fake = FakeBootloader(resets=False)
    real_read = fake.read

    def read(size=1):
        if len(fake.commands) >= 8:  # the fourth page
            raise serial.SerialException("device reports readiness to read but returned no data")
        return real_read(size)

    fake.read = read
    with pytest.raises(BoardGoneError, match="COM7: the port went away during PROG_PAGE"):
        _stk(fake).write_image(_image(1000))
    fake.read = real_read
    fake.write = lambda data: (_ for _ in ()).throw(serial.SerialException("write failed"))
    with pytest.raises(BoardGoneError, match="during READ_SIGN .write failed."):
        _stk(fake).signature()


def test_a_program_too_big_for_the_old_bootloader_is_refused(monkeypatch):
    fake = FakeBootloader(listens_at=57_600, baudrate=57_600)
    monkeypatch.setattr(stk500, "_open", opening(lambda rate: fake))
    monkeypatch.setattr(stk500.time, "sleep", lambda s: None)
    with pytest.raises(Stk500Error, match="ends at 0x7801, past the 30720 bytes"):
        stk500.flash("/dev/ttyUSB0", to_hex({0x7800: 1}), baudrate=57_600)
    assert 0x64 not in fake.commands  # nothing written
