"""Fuzzing the link layer's parsers that had no fuzz test of their own: only labkit errors, ever.

Each test parses ``FUZZ_EXAMPLES`` inputs (10,000 under ``HYPOTHESIS_PROFILE=ci``): random
inputs and mutated valid ones, drawn from seeded NumPy generators. Hypothesis picks a
seed per example and each example parses ``BATCH`` inputs (seeds ``seed * BATCH + k``):
hypothesis's own bookkeeping costs about 2.5 ms an example on the 2-core CI machine,
a hundred times what these parsers take, so one input per example would spend 25 s per
test on it. A failure reports its input seed (``note``), which replays it. The Ethernet parser's and the
COBS decoder's fuzz tests are in test_link_ethernet.py and test_link_framing.py; the
waveform receiver's in test_link_wire.py; its bit-level stage (SFD, carrier, bytes,
FCS) is here.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitError, LabkitValueError
from labkit.link import EthernetFrame, MACAddress, VLANTag
from labkit.link.wire import SYNC, frame_bits, frame_from_bits

seeds = st.integers(0, 2**32 - 1)
#: Inputs parsed per hypothesis example.
BATCH = 10


def batch(seed: int) -> range:
    """The input seeds of one example."""
    return range(seed * BATCH, seed * BATCH + BATCH)


# -- 802.1Q tags ---------------------------------------------------------------------------
def _tagged_input(seed: int) -> tuple[bytes, bool]:
    """Bytes whose type field says 0x8100: random after it, or a real tagged frame mutated."""
    rng = np.random.default_rng(seed)
    with_fcs = bool(rng.random() < 0.5)
    if rng.random() < 0.5:
        data = bytearray(rng.bytes(int(rng.integers(0, 80 if rng.random() < 0.7 else 1600))))
        data[12:14] = b"\x81\x00"[: max(0, len(data) - 12)]
        if rng.random() < 0.3:  # a second tag (Q-in-Q written the 802.1Q way)
            data[16:18] = b"\x81\x00"[: max(0, len(data) - 16)]
        return bytes(data), with_fcs
    frame = EthernetFrame(MACAddress.random(rng), MACAddress.random(rng),
                          int(rng.integers(0x0600, 0x10000)),
                          rng.bytes(int(rng.integers(0, 200))),
                          VLANTag(int(rng.integers(0, 4095)), int(rng.integers(0, 8)),
                                  bool(rng.random() < 0.5)))
    wire = bytearray(frame.pack(fcs=with_fcs))
    for _ in range(int(rng.integers(1, 4))):
        pos = int(rng.integers(12, 20))  # around the tag: TPID, TCI, inner type
        op = rng.integers(0, 3)
        if op == 0 and pos < len(wire):
            wire[pos] ^= int(rng.integers(1, 256))
        elif op == 1:
            del wire[int(rng.integers(0, len(wire) + 1)):]
        else:
            wire[pos:pos] = rng.bytes(int(rng.integers(1, 5)))
    return bytes(wire), with_fcs


@settings(max_examples=FUZZ_EXAMPLES // BATCH)
@given(seeds)
def test_fuzz_vlan_tagged_frames(seed):
    for s in batch(seed):
        note(f"input seed {s}")
        data, with_fcs = _tagged_input(s)
        try:
            frame = EthernetFrame.parse(data, fcs=with_fcs)
        except LabkitError:
            continue
        assert (frame.vlan is not None) == (data[12:14] == b"\x81\x00")  # a tag iff TPID 0x8100
        body = len(data) - 4 * with_fcs
        assert frame.pack(fcs=False)[:body] == data[:body]


# -- MAC addresses -------------------------------------------------------------------------
_NOTATIONS = ("{}:{}:{}:{}:{}:{}", "{}-{}-{}-{}-{}-{}", "{}{}.{}{}.{}{}")


def _mac_input(seed: int) -> object:
    """Text in (and near) each notation, byte strings of any length, integers of any size."""
    rng = np.random.default_rng(seed)
    kind = int(rng.integers(0, 4))
    if kind == 0:  # a valid notation, then mutated characters
        octets = [f"{b:02x}" for b in rng.bytes(6)]
        text = list(_NOTATIONS[int(rng.integers(0, 3))].format(*octets))
        for _ in range(int(rng.integers(0, 4))):
            pos = int(rng.integers(0, len(text) + 1))
            op = rng.integers(0, 3)
            char = str(rng.choice(list("0123456789abcdefgABCDEF:-. \t\n\x00é٣")))
            if op == 0 and pos < len(text):
                text[pos] = char
            elif op == 1:
                text.insert(pos, char)
            elif text:
                del text[min(pos, len(text) - 1)]
        return "".join(text)
    if kind == 1:
        return rng.bytes(int(rng.integers(0, 10)))
    if kind == 2:
        return int.from_bytes(rng.bytes(7), "big") * int(rng.choice([1, -1])) >> int(rng.integers(0, 56))
    # random characters, including non-ASCII digits that int(..., 16) would not take
    return "".join(chr(int(c)) for c in rng.integers(0, 0x700, int(rng.integers(0, 20))))


@settings(max_examples=FUZZ_EXAMPLES // BATCH)
@given(seeds)
def test_fuzz_mac_address(seed):
    for s in batch(seed):
        note(f"input seed {s}")
        value = _mac_input(s)
        try:
            mac = MACAddress(value)
        except LabkitError:
            continue
        assert MACAddress(str(mac)) == mac == MACAddress(mac.packed) == MACAddress(int(mac))


@settings(max_examples=FUZZ_EXAMPLES // 10)
@given(st.text(max_size=24) | st.binary(max_size=8) | st.integers() | st.none() | st.floats())
def test_fuzz_mac_address_any_value(value):
    """Hypothesis's own edge cases (fewer runs: the seeded test above covers the volume)."""
    try:
        MACAddress(value)  # type: ignore[arg-type]
    except LabkitError:
        pass


# -- the receiver's bit-level stage: SFD, end of carrier, bytes, FCS ------------------------
_FRAME_KINDS = ("random", "values", "mutated", "mutated", "mutated")


def _bits_input(seed: int) -> tuple[object, object, bytes | None]:
    """(bits, carrier, the frame's bytes if the input holds an intact frame, else None)."""
    rng = np.random.default_rng(seed)
    kind = _FRAME_KINDS[int(rng.integers(0, len(_FRAME_KINDS)))]
    if kind == "random":  # junk bits, and sometimes the SYNC pattern dropped in
        n = int(rng.integers(0, 13000 if rng.random() < 0.2 else 800))
        bits = rng.integers(0, 2, n, dtype=np.uint8)
        if n > 80 and rng.random() < 0.5:
            at = int(rng.integers(0, n - 64))
            bits[at:at + 64] = np.unpackbits(np.frombuffer(SYNC, np.uint8), bitorder="little")
        carrier = None if rng.random() < 0.5 else rng.random(n) < 0.95
        return bits, carrier, None
    if kind == "values":  # not bits at all: the wrong values, shapes or carrier
        choice = int(rng.integers(0, 4))
        if choice == 0:
            return rng.integers(-1, 3, 100), None, None
        if choice == 1:
            return rng.random(100), None, None
        if choice == 2:
            return rng.integers(0, 2, (10, 10)), None, None
        return rng.integers(0, 2, 100), rng.integers(0, 2, 99), None
    frame = EthernetFrame(MACAddress.random(rng), MACAddress.random(rng), 0x0800,
                          rng.bytes(int(rng.integers(0, 120))))
    wire = frame.pack()
    bits = frame_bits(frame)
    bits = np.concatenate([rng.integers(0, 2, int(rng.integers(0, 40)), dtype=np.uint8), bits])
    carrier = np.concatenate([np.ones(bits.size, bool), np.zeros(int(rng.integers(0, 8)), bool)])
    bits = np.concatenate([bits, rng.integers(0, 2, carrier.size - bits.size, dtype=np.uint8)])
    intact = True
    for _ in range(int(rng.integers(0, 4))):
        op = int(rng.integers(0, 5))
        pos = int(rng.integers(0, max(1, bits.size)))
        if op == 0 and bits.size:
            bits[pos] ^= 1
        elif op == 1:
            bits, carrier = bits[:pos], carrier[:pos]
        elif op == 2:
            extra = int(rng.integers(1, 9))
            bits = np.insert(bits, pos, rng.integers(0, 2, extra, dtype=np.uint8))
            carrier = np.insert(carrier, pos, np.ones(extra, bool))
        elif op == 3:
            carrier[pos:pos + int(rng.integers(1, 6))] = False
        else:
            bits = 1 - bits  # swapped wires: the receiver must notice and undo it
            continue
        intact = False
    return bits, carrier if rng.random() < 0.8 else None, wire if intact else None


@settings(max_examples=FUZZ_EXAMPLES // BATCH)
@given(seeds)
def test_fuzz_frame_from_bits(seed):
    for s in batch(seed):
        note(f"input seed {s}")
        bits, carrier, intact = _bits_input(s)
        try:
            frame = frame_from_bits(bits, carrier)
        except LabkitError as err:
            assert intact is None, f"an intact frame was refused: {err}"
            continue
        # Delivered means FCS-checked: the frame that was sent (a damaged one would need a
        # CRC-32 collision), or junk that happened to contain a whole valid frame.
        assert isinstance(frame, EthernetFrame)
        if intact is not None:
            assert frame.pack() == intact


def test_frame_from_bits_rejects_what_is_not_bits():
    for bad, match in ((np.full(100, 2), "0s and 1s|bits"), (b"\x55" * 10, "bits_from_bytes"),
                       (np.zeros((4, 4)), "1-D")):
        try:
            frame_from_bits(bad)
        except LabkitValueError as err:
            assert any(m in str(err) for m in match.split("|")), err
        else:
            raise AssertionError(f"{bad!r:.30} was accepted")
