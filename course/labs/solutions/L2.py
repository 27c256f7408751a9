import zlib

BROADCAST = b"\xff" * 6

def parse_frame(frame, check_fcs=True):
    """(dst, src) of an Ethernet frame as 6-byte strings, or None if it is damaged."""
    if len(frame) < 14 + (4 if check_fcs else 0):
        return None
    if check_fcs:
        body, fcs = frame[:-4], frame[-4:]
        if zlib.crc32(body).to_bytes(4, "little") != fcs:
            return None
    return bytes(frame[0:6]), bytes(frame[6:12])

class Switch:
    """A learning switch: learn, forward, filter, flood, age."""

    def __init__(self, ageing_time_ns=300 * 10**9, check_fcs=True):
        self.ageing_time_ns = ageing_time_ns
        self.check_fcs = check_fcs
        self.ports = []
        self.table = {}  # MAC (6 bytes) -> (port, last seen, ns)

    def add_port(self, port):
        self.ports.append(port)

    def forward(self, in_port, frame, now_ns):
        """The ports a copy of ``frame`` (arrived on ``in_port`` at ``now_ns``) leaves by."""
        parsed = parse_frame(frame, self.check_fcs)
        if parsed is None:
            return []
        dst, src = parsed
        if not src[0] & 1:  # learn from unicast sources only
            self.table[src] = (in_port, now_ns)
        everyone_else = [p for p in self.ports if p != in_port]
        if dst[0] & 1:  # broadcast or multicast: flood
            return everyone_else
        entry = self.table.get(dst)
        if entry is not None and now_ns - entry[1] >= self.ageing_time_ns:
            del self.table[dst]  # aged: not heard from for the ageing time
            entry = None
        if entry is not None:
            port = entry[0]
            return [] if port == in_port else [port]
        return everyone_else  # unknown unicast: flood
