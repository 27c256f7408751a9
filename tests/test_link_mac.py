"""MACAddress: a value type like ipaddress.IPv4Address."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import LabkitValueError
from labkit.link import BROADCAST, MACAddress, MACAddressValueError

macs = st.integers(0, 2**48 - 1).map(MACAddress)


def test_three_notations_and_case_give_the_same_address():
    forms = ["00:1b:21:3a:4f:5e", "00-1B-21-3A-4F-5E", "001b.213a.4f5e", " 00:1b:21:3a:4f:5e "]
    addresses = {MACAddress(f) for f in forms}
    assert addresses == {MACAddress(0x001B213A4F5E)}
    assert MACAddress(bytes.fromhex("001b213a4f5e")) == MACAddress("00:1b:21:3a:4f:5e")


def test_forms_out():
    mac = MACAddress("00:1B:21:3A:4F:5E")
    assert str(mac) == "00:1b:21:3a:4f:5e"
    assert repr(mac) == "MACAddress('00:1b:21:3a:4f:5e')"
    assert int(mac) == 0x001B213A4F5E
    assert mac.packed == bytes(mac) == b"\x00\x1b\x21\x3a\x4f\x5e"
    assert format(mac, "-") == "00-1b-21-3a-4f-5e"
    assert format(mac, ".") == "001b.213a.4f5e"
    assert f"{mac:x}" == "001b213a4f5e"
    assert mac.oui == "00:1b:21"
    with pytest.raises(MACAddressValueError, match="format spec"):
        format(mac, "?")


@given(macs)
def test_every_form_round_trips(mac):
    assert eval(repr(mac)) == mac
    assert MACAddress(str(mac)) == mac
    assert MACAddress(format(mac, "-")) == mac
    assert MACAddress(format(mac, ".")) == mac
    assert MACAddress(int(mac)) == mac
    assert MACAddress(mac.packed) == mac
    assert MACAddress(mac) == mac
    assert MACAddress(np.uint64(int(mac))) == mac
    assert pickle.loads(pickle.dumps(mac)) == mac
    assert copy.deepcopy(mac) == mac


@given(macs, macs)
def test_ordering_and_hashing_follow_the_integer(a, b):
    assert (a < b) == (int(a) < int(b))
    assert (a <= b) == (int(a) <= int(b))
    assert (a > b) == (int(a) > int(b))
    assert (a >= b) == (int(a) >= int(b))
    assert (a == b) == (int(a) == int(b))
    assert hash(a) == hash(MACAddress(int(a)))
    assert sorted([b, a]) == sorted([a, b], key=int)


def test_flag_bits():
    assert BROADCAST == MACAddress("ff:ff:ff:ff:ff:ff")
    assert BROADCAST.is_broadcast and BROADCAST.is_multicast and not BROADCAST.is_unicast
    ipv4_multicast = MACAddress("01:00:5e:00:00:fb")
    assert ipv4_multicast.is_multicast and not ipv4_multicast.is_broadcast
    assert ipv4_multicast.is_universal
    intel = MACAddress("00:1b:21:3a:4f:5e")
    assert intel.is_unicast and intel.is_universal and not intel.is_local
    vm = MACAddress("52:54:00:12:34:56")  # QEMU: locally administered
    assert vm.is_local and vm.is_unicast and not vm.is_universal


@given(macs)
def test_flags_are_the_first_octets_low_bits(mac):
    first = mac.packed[0]
    assert mac.is_multicast == bool(first & 1) != mac.is_unicast
    assert mac.is_local == bool(first & 2) != mac.is_universal


def test_immutable_and_slotted():
    mac = MACAddress(1)
    with pytest.raises(AttributeError):
        mac._mac = 2
    with pytest.raises(AttributeError):
        mac.anything = 2
    assert not hasattr(mac, "__dict__")
    assert int(mac) == 1


def test_not_equal_to_other_types():
    assert MACAddress(1) != 1
    assert MACAddress(1) != "00:00:00:00:00:01"
    with pytest.raises(TypeError):
        _ = MACAddress(1) < 2


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("00:1b:21:3a:4f", "10 hex digits"),
        ("00:1b:21:3a:4f:5e:77", "14 hex digits"),
        ("001b213a4f5e", "separators"),
        ("00:1b-21:3a:4f:5e", "separators"),
        ("0g:1b:21:3a:4f:5e", "11 hex digits"),
        (-1, "out of range"),
        (2**48, "out of range"),
        (b"\x00" * 5, "5 bytes"),
        (True, "bool"),
        (1.5, "float"),
        (None, "NoneType"),
    ],
)
def test_errors_name_the_value(value, words):
    with pytest.raises(MACAddressValueError, match=words) as info:
        MACAddress(value)
    assert isinstance(info.value, LabkitValueError) and isinstance(info.value, ValueError)
    assert repr(value)[:8] in str(info.value)


def test_random_addresses_are_reproducible_and_flagged():
    a = MACAddress.random(np.random.default_rng(7))
    b = MACAddress.random(np.random.default_rng(7))
    assert a == b and a.is_local and a.is_unicast
    m = MACAddress.random(np.random.default_rng(7), local=False, multicast=True)
    assert m.is_universal and m.is_multicast
    with pytest.raises(MACAddressValueError, match="Generator"):
        MACAddress.random(7)
