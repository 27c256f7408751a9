"""labkit.errors.parse_input: the opening the DHCP, RIP and link-state parsers share."""

import pytest

from labkit.app.dhcp import DHCPMessage
from labkit.app.rip import RIPMessage
from labkit.errors import LabkitValueError, ParseError, parse_input
from labkit.net.linkstate import LinkStateMessage

PARSERS = {"dhcp": DHCPMessage.parse, "rip": RIPMessage.parse, "linkstate": LinkStateMessage.parse}


def test_bytes_bytearray_and_memoryview_come_back_as_bytes():
    for data in (b"abcd", bytearray(b"abcd"), memoryview(b"xabcd")[1:]):
        raw = parse_input(data, "x", 4, "short")
        assert raw == b"abcd" and type(raw) is bytes


@pytest.mark.parametrize("bad", [None, "abcd", 20, [1, 2, 3, 4]])
def test_what_is_not_bytes_is_named_with_its_type(bad):
    with pytest.raises(LabkitValueError, match=f"data: expected bytes, got {type(bad).__name__}"):
        parse_input(bad, "x", 0, "short")


def test_a_short_input_is_a_parse_error_on_the_length():
    with pytest.raises(ParseError) as e:
        parse_input(b"abc", "rip", 4, "shorter than four")
    assert (e.value.layer, e.value.field, e.value.value, e.value.reason) == ("rip", "length", 3, "shorter than four")


@pytest.mark.parametrize("name", PARSERS)
def test_the_parsers_refuse_text_and_two_bytes_with_labkits_errors(name):
    with pytest.raises(LabkitValueError, match="expected bytes, got str"):
        PARSERS[name]("hello")
    with pytest.raises(ParseError, match="length=2"):
        PARSERS[name](b"\x01\x02")
