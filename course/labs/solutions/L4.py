# %% part arq
from labkit.labs.arq import ack_frame, data_frame, parse_frame


class StopAndWaitSender:
    """Send one frame, wait for its ACK (or the timeout), then the next."""

    def __init__(self, end, timeout_ns):
        self.end = end
        self.timeout_ns = timeout_ns
        self.queue = []        # every message given to send(), in order
        self.seq = 0           # the message in flight (or next to send)
        self.timer = None

    def send(self, messages):
        """Queue ``messages`` (a list of bytes) and start sending."""
        self.queue.extend(messages)
        if self.timer is None:
            self.transmit()

    def transmit(self):
        if self.seq < len(self.queue):
            self.end.send(data_frame(self.seq, self.queue[self.seq]))
            self.timer = self.end.timer(self.timeout_ns, self.transmit)
        else:
            self.timer = None

    def on_frame(self, frame):
        """A frame from the receiver arrived."""
        parsed = parse_frame(frame)
        if parsed is None or parsed[0] != "A":
            return
        if parsed[1] == self.seq + 1 and self.timer is not None:
            self.timer.cancel()
            self.seq += 1
            self.transmit()


class GoBackNReceiver:
    """Deliver in order only; acknowledge cumulatively (the next seq expected)."""

    def __init__(self, end):
        self.end = end
        self.expected = 0
        self.delivered = []

    def on_frame(self, frame):
        parsed = parse_frame(frame)
        if parsed is None or parsed[0] != "D":
            return
        kind, seq, data = parsed
        if seq == self.expected:
            self.delivered.append(data)
            self.expected += 1
        self.end.send(ack_frame(self.expected))


class GoBackNSender:
    """Up to ``window`` frames in flight, one timer; on its expiry resend them all."""

    def __init__(self, end, window, timeout_ns):
        self.end = end
        self.window = window
        self.timeout_ns = timeout_ns
        self.queue = []
        self.base = 0          # oldest unacknowledged
        self.next = 0          # next new one to send
        self.timer = None

    def send(self, messages):
        self.queue.extend(messages)
        self.fill()

    def fill(self):
        while self.next < len(self.queue) and self.next < self.base + self.window:
            self.end.send(data_frame(self.next, self.queue[self.next]))
            self.next += 1
            if self.timer is None:
                self.timer = self.end.timer(self.timeout_ns, self.expired)

    def expired(self):
        self.timer = None
        for seq in range(self.base, self.next):
            self.end.send(data_frame(seq, self.queue[seq]))
        if self.base < self.next:
            self.timer = self.end.timer(self.timeout_ns, self.expired)

    def on_frame(self, frame):
        parsed = parse_frame(frame)
        if parsed is None or parsed[0] != "A":
            return
        ackno = parsed[1]
        if self.base < ackno <= self.next:
            self.base = ackno
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if self.base < self.next:
                self.timer = self.end.timer(self.timeout_ns, self.expired)
            self.fill()


class SelectiveRepeatReceiver:
    """Keep frames within the window, deliver in order, acknowledge each frame by its seq."""

    def __init__(self, end, window):
        self.end = end
        self.window = window
        self.expected = 0
        self.buffer = {}       # seq -> data, for base < seq < base + window
        self.delivered = []

    def on_frame(self, frame):
        parsed = parse_frame(frame)
        if parsed is None or parsed[0] != "D":
            return
        kind, seq, data = parsed
        if seq >= self.expected + self.window:
            return                       # beyond the window: not ours to keep
        self.end.send(ack_frame(seq))    # below the window too: our ACK was lost
        if seq >= self.expected:
            self.buffer[seq] = data
            while self.expected in self.buffer:
                self.delivered.append(self.buffer.pop(self.expected))
                self.expected += 1


class SelectiveRepeatSender:
    """Up to ``window`` frames in flight, a timer for each; resend only the one that expired."""

    def __init__(self, end, window, timeout_ns):
        self.end = end
        self.window = window
        self.timeout_ns = timeout_ns
        self.queue = []
        self.base = 0
        self.next = 0
        self.acked = set()
        self.timers = {}       # seq -> timer

    def send(self, messages):
        self.queue.extend(messages)
        self.fill()

    def transmit(self, seq):
        self.end.send(data_frame(seq, self.queue[seq]))
        self.timers[seq] = self.end.timer(self.timeout_ns, lambda: self.transmit(seq))

    def fill(self):
        while self.next < len(self.queue) and self.next < self.base + self.window:
            self.transmit(self.next)
            self.next += 1

    def on_frame(self, frame):
        parsed = parse_frame(frame)
        if parsed is None or parsed[0] != "A":
            return
        seq = parsed[1]
        if seq < self.base or seq >= self.next or seq in self.acked:
            return
        self.acked.add(seq)
        self.timers.pop(seq).cancel()
        while self.base in self.acked:
            self.acked.remove(self.base)
            self.base += 1
        self.fill()


# %% part stream
class ByteStream:
    """Bytes in at one end, out in order at the other; at most ``capacity`` buffered."""

    def __init__(self, capacity=None):
        self.capacity = capacity       # None: no limit
        self.buffer = bytearray()
        self.closed = False
        self.bytes_pushed = 0
        self.bytes_popped = 0

    def push(self, data):
        """Append as much of ``data`` as fits; return how many bytes were taken."""
        if self.closed:
            return 0
        if self.capacity is not None:
            data = data[:max(0, self.capacity - len(self.buffer))]
        self.buffer += data
        self.bytes_pushed += len(data)
        return len(data)

    def pop(self, n):
        """Remove and return up to ``n`` bytes from the front."""
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        self.bytes_popped += len(out)
        return out

    def clear(self):
        self.bytes_popped += len(self.buffer)
        self.buffer.clear()

    def close(self):
        self.closed = True

    @property
    def available_capacity(self):
        return None if self.capacity is None else self.capacity - len(self.buffer)

    @property
    def buffered(self):
        return len(self.buffer)

    @property
    def finished(self):
        return self.closed and not self.buffer


# %% part reassembler
class Reassembler:
    """Pieces that arrived out of order, kept (once each) until the gap before them fills."""

    def __init__(self, capacity=65535):
        self.capacity = capacity
        self.first = 0           # the first index not popped yet
        self.pieces = []         # disjoint (start, bytearray), sorted by start

    def insert(self, seq, data):
        """Keep ``data`` (its first byte is number ``seq``), within [first, first + capacity)."""
        lo = max(seq, self.first)
        hi = min(seq + len(data), self.first + self.capacity)
        if hi <= lo:
            return
        new_start, new = lo, bytearray(data[lo - seq:hi - seq])
        kept = []
        for start, chunk in self.pieces:
            end, new_end = start + len(chunk), new_start + len(new)
            if end < new_start or start > new_end:
                kept.append((start, chunk))          # apart: keep as it is
                continue
            if start < new_start:                    # overlapping or touching: merge
                new = chunk[:new_start - start] + new
                new_start = start
            if end > new_end:
                new += chunk[new_end - start:]
        kept.append((new_start, new))
        kept.sort(key=lambda piece: piece[0])
        self.pieces = kept

    def pop(self, next_seq):
        """The bytes from ``next_seq`` on that are contiguous (older ones are dropped)."""
        self.first = max(self.first, next_seq)
        out = bytearray()
        while self.pieces and self.pieces[0][0] <= self.first:
            start, chunk = self.pieces.pop(0)
            if start + len(chunk) > self.first:
                out += chunk[self.first - start:]
                self.first = start + len(chunk)
        return bytes(out)

    @property
    def pending(self):
        return sum(len(chunk) for start, chunk in self.pieces)

    def blocks(self, limit):
        return [(start, start + len(chunk)) for start, chunk in reversed(self.pieces)][:limit]


# %% part receiver
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Wrap32


class TCPReceiver:
    """Segments in; the ackno and window out (CS144's TCPReceiver)."""

    def __init__(self, reassembler, stream, capacity):
        self.reassembler = reassembler
        self.stream = stream
        self.capacity = capacity
        self.isn = None          # the peer's ISN, once its SYN arrived
        self.next = 0            # the next stream index expected
        self.fin_at = None       # the stream index of the FIN, once it arrived
        self.reset = False

    def window(self):
        return min(65535, self.capacity - self.stream.buffered)

    def receive(self, message):
        if message.RST:
            self.reset = True
            return
        if message.SYN and self.isn is None:
            self.isn = message.seqno
        if self.isn is None:
            return               # nothing before the SYN
        absolute = message.seqno.unwrap(self.isn, self.next + 1)
        if absolute == 0 and not message.SYN:
            return               # the SYN's number again, without the SYN: not data
        index = absolute - 1 + message.SYN
        data = message.payload
        start = max(index, self.next)
        end = min(index + len(data), self.next + self.window())
        if end > start:
            self.reassembler.insert(start, data[start - index:end - index])
        if message.FIN and self.fin_at is None:
            self.fin_at = index + len(data)
        out = self.reassembler.pop(self.next)
        self.stream.push(out)
        self.next += len(out)
        if self.fin_at is not None and self.next == self.fin_at:
            self.stream.close()

    def send(self):
        if self.isn is None:
            return TCPReceiverMessage(None, self.window(), RST=self.reset)
        absolute = self.next + 1 + (self.fin_at is not None and self.next == self.fin_at)
        return TCPReceiverMessage(Wrap32.wrap(absolute, self.isn), self.window(), RST=self.reset)


# %% part sender
from labkit.transport.congestion import Ack

MS = 1_000_000


class TCPSender:
    """Bytes out as segments; RFC 6298 timer, Karn, backoff, fast retransmit, zero-window probes."""

    def __init__(self, stream, isn, config):
        self.stream = stream
        self.isn = isn
        self.mss = config.mss
        self.rto_min = config.rto_min // MS        # everything here is in milliseconds
        self.rto_max = config.rto_max // MS
        self.initial_rto = config.rto_initial // MS
        self.dupack_threshold = config.dupack_threshold
        self.rto = self.initial_rto
        self.srtt = None
        self.rttvar = 0
        self.cc = config.congestion()
        self.cc_started = False
        self.now = 0                 # the sum of every tick
        self.next_seqno = 0          # absolute: the next number to send
        self.ackno = 0               # absolute: everything before it is acknowledged
        self.window = 1              # the peer's window (1 before we hear: the SYN fits)
        self.outstanding = []        # (absolute seqno, message), oldest first
        self.syn_sent = False
        self.fin_sent = False
        self.timer = None            # ms the timer has run, or None when stopped
        self.retransmissions = 0
        self.timed = None            # (absolute seqno ending the timed segment, ms it left)
        self.dupacks = 0
        self.last_ack = None         # (ackno, window) of the last ACK
        self.recover = None          # in fast recovery until this is acknowledged
        self.fast_retransmit = False

    def sequence_numbers_in_flight(self):
        return self.next_seqno - self.ackno

    def consecutive_retransmissions(self):
        return self.retransmissions

    def next_timeout_ms(self):
        return None if self.timer is None else max(0, self.rto - self.timer)

    def make_empty_message(self):
        return TCPSenderMessage(Wrap32.wrap(self.next_seqno, self.isn))

    def room(self):
        window = max(self.window, 1)             # a zero window is probed with one byte
        if self.cc_started:
            window = min(window, self.cc.cwnd)
        return window - self.sequence_numbers_in_flight()

    def push(self, transmit):
        if self.fast_retransmit and self.outstanding:
            self.fast_retransmit = False
            self.timed = None                    # Karn: never time a retransmission
            transmit(self.outstanding[0][1])
        while not self.fin_sent:
            room = self.room()
            if room <= 0:
                break
            syn = not self.syn_sent
            size = min(self.mss, room - syn, self.stream.buffered)
            payload = self.stream.pop(size) if size > 0 else b""
            fin = self.stream.finished and room - syn - len(payload) > 0
            message = TCPSenderMessage(Wrap32.wrap(self.next_seqno, self.isn), SYN=syn,
                                       payload=payload, FIN=fin)
            if message.sequence_length == 0:
                break
            self.syn_sent = True
            self.fin_sent = fin
            self.outstanding.append((self.next_seqno, message))
            self.next_seqno += message.sequence_length
            if self.timed is None:
                self.timed = (self.next_seqno, self.now)
            if self.timer is None:
                self.timer = 0
            transmit(message)

    def sample(self, rtt):
        """RFC 6298 2.2-2.4."""
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def estimate(self):
        if self.srtt is None:
            return self.initial_rto
        rto = round(self.srtt + max(1, 4 * self.rttvar))
        return min(max(rto, self.rto_min), self.rto_max)

    def receive(self, message):
        if message.ackno is None:
            self.window = message.window_size
            return
        ackno = message.ackno.unwrap(self.isn, self.next_seqno)
        if ackno > self.next_seqno or ackno < self.ackno:
            return                               # never sent, or older than what we know
        flight = self.sequence_numbers_in_flight()
        if ackno > self.ackno:
            acked = ackno - self.ackno
            self.ackno = ackno
            self.window = message.window_size
            self.outstanding = [(s, m) for s, m in self.outstanding
                                if s + m.sequence_length > ackno]
            rtt = None
            if self.timed is not None and ackno >= self.timed[0]:
                rtt = self.now - self.timed[1]
                self.sample(rtt)
                self.timed = None
            self.rto = self.estimate()
            self.retransmissions = 0
            self.timer = 0 if self.outstanding else None
            self.dupacks = 0
            self.tell_controller(acked, flight, rtt)
        else:
            self.window = message.window_size
            if flight > 0 and (ackno, message.window_size) == self.last_ack:
                self.dupacks += 1
                if self.recover is None and self.dupacks == self.dupack_threshold:
                    if self.cc_started:
                        self.cc.on_loss(flight, self.now * MS)
                    self.recover = self.next_seqno
                    self.fast_retransmit = True
                elif self.recover is not None and self.cc_started:
                    self.cc.on_recovery_ack(self.ack(0, flight, None, dupack=True))
        self.last_ack = (ackno, message.window_size)

    def ack(self, acked, flight, rtt, dupack=False):
        return Ack(now=self.now * MS, acked=acked, flight=self.sequence_numbers_in_flight(),
                   rtt=None if rtt is None else rtt * MS,
                   srtt=None if self.srtt is None else round(self.srtt * MS),
                   cwnd_limited=2 * flight >= self.cc.cwnd, dupack=dupack,
                   ack=self.ackno, snd_nxt=self.next_seqno)

    def tell_controller(self, acked, flight, rtt):
        if not self.cc_started:
            self.cc.start(self.mss, self.now * MS, sack=False)
            self.cc_started = True
            return                               # that was the SYN
        if self.recover is None:
            self.cc.on_ack(self.ack(acked, flight, rtt))
        elif self.ackno >= self.recover:
            self.recover = None
            self.cc.on_recovery_end(self.ack(acked, flight, rtt))
        else:
            self.cc.on_recovery_ack(self.ack(acked, flight, rtt))
            self.fast_retransmit = True          # NewReno: the next hole, at once

    def tick(self, ms_since_last_tick, transmit):
        self.now += ms_since_last_tick
        if self.timer is None:
            return
        self.timer += ms_since_last_tick
        if self.timer < self.rto or not self.outstanding:
            return
        transmit(self.outstanding[0][1])         # the oldest, alone
        self.timed = None                        # Karn's rule
        if self.window > 0:
            self.retransmissions += 1
            if self.cc_started:
                self.cc.on_timeout(self.sequence_numbers_in_flight(), self.now * MS)
            self.recover = None
            self.dupacks = 0
        self.rto = min(2 * self.rto, self.rto_max)   # backoff (a probe's too)
        self.timer = 0


# %% part congestion
class MyController:
    """My own congestion controller: slow start, then additive increase; beta = 0.7 on loss."""

    BETA = 0.7

    def __init__(self):
        self.smss = 1460
        self.cwnd = 0
        self.ssthresh = 1 << 30
        self.acked = 0         # bytes acknowledged towards the next SMSS of growth

    def start(self, smss, now, sack=False):
        self.smss = smss
        self.cwnd = 10 * smss
        self.ssthresh = 1 << 30

    def on_ack(self, ack):
        if not ack.cwnd_limited:
            return             # a window that was not used says nothing about the path
        if self.cwnd < self.ssthresh:
            self.cwnd += min(ack.acked, self.smss)
            return
        self.acked += ack.acked
        if self.acked >= self.cwnd:      # a whole window acknowledged: one SMSS more
            self.acked -= self.cwnd
            self.cwnd += self.smss

    def on_loss(self, flight, now):
        self.ssthresh = max(int(flight * self.BETA), 2 * self.smss)
        self.cwnd = self.ssthresh
        self.acked = 0

    def on_recovery_ack(self, ack):
        pass                   # the connection counts what is in flight (SACK's pipe)

    def on_recovery_end(self, ack):
        self.cwnd = self.ssthresh

    def on_timeout(self, flight, now):
        self.ssthresh = max(flight // 2, 2 * self.smss)
        self.cwnd = self.smss
        self.acked = 0
