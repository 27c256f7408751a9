"""Two simulated boards joined by two wires: the firmware and the wire, in Python.

:class:`SimPair` runs the firmware's behaviour (``hardware/firmware/labkit_hw/
firmware.c``, protocol ``hardware/PROTOCOL.md``) for two boards, byte for
byte: the same frames, the same limits, the same errors in the same order of
checks, the same timer arithmetic. Where this file and the firmware disagree,
the firmware is right and this file has a bug.

Board ``0`` drives wire 0, which board ``1`` reads; board ``1`` drives wire 1,
which board ``0`` reads (the lab's two jumper wires, D7 to D8 and A0).

**Time is virtual.** The pair has its own clock (:attr:`SimPair.now`, in
seconds). Writing to a board costs nothing; reading waits *virtually*: a read
that finds no bytes moves the clock forward to the board's next reply, or by
the whole read timeout when nothing is coming. So a notebook runs in
milliseconds of real time, and every run is the same.

**The wire** (:class:`WireModel`) is built from :mod:`labkit.phy`: each
board's timer runs ``ppm`` parts per million fast or slow (ceramic resonators
on Uno boards are within about ±0.5 %); the transmitter's ideal levels pass
through :func:`~labkit.phy.low_pass` (the wire's resistance and capacitance,
time constant ``rc_us``), are read at the receiver's own sample times with
:func:`~labkit.phy.clock_skew`, and get :func:`~labkit.phy.add_noise`
(``noise_mv`` volts RMS) from the pair's seeded generator. The digital input
switches at 2.5 V; the ADC reads 8 bits of 0..5 V.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field, replace

import numpy as np

from labkit.errors import LabkitValueError
from labkit.hw import protocol as P
from labkit.phy import add_noise, clock_skew, low_pass

__all__ = ["WireModel", "SimBoard", "SimPair", "Wire", "get_pair", "drop_pair", "pairs"]

BYTE_S = 10 / P.HOST_BAUD  # one byte on the USB serial line (8N1)
USB_LATENCY_S = 0.001  # the USB-serial chip forwards data once per millisecond frame
ADC_SAMPLE_DELAY_S = 1.5e-6  # the ADC holds its input 1.5 ADC clocks after the start
CLEAR_BUFFER_S = 1024 * 5 / P.F_CPU  # the firmware clears the sample buffer after ARMED
BRIDGE_STEP_S = 0.001  # how far a read waits at a time while a bridge may deliver


#: At most this many (time, change) pairs at once in SimBoard._wire_volts (2 MB a matrix).
WIRE_BLOCK = 262_144


@dataclass(frozen=True)
class WireModel:
    """Physical settings of a simulated pair (the URL's query parameters)."""

    rc_us: float = 22.0  #: wire time constant R*C in microseconds (10 kΩ * 2.2 nF)
    noise_mv: float = 15.0  #: noise on the wire, volts RMS * 1000
    v_high: float = 4.9  #: a driven-high output pin (volts)
    v_low: float = 0.05  #: a driven-low output pin (volts)
    threshold: float = 2.5  #: where the digital input switches (volts)
    ppm0: float = 5000.0  #: board 0's clock error, parts per million (+ is fast; +0.5 %: a ceramic resonator)
    ppm1: float = -5000.0  #: board 1's clock error (-0.5 %)
    seed: int = 0  #: seed of the noise generator
    delay_us: float = 0.0  #: propagation delay from the sender's pin to the receiver

    def __post_init__(self) -> None:
        for name in ("rc_us", "noise_mv", "v_high", "v_low", "threshold", "ppm0", "ppm1",
                     "delay_us"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise LabkitValueError(f"{name}={v!r}: expected a finite number")
        if self.rc_us < 0 or self.noise_mv < 0 or self.delay_us < 0:
            raise LabkitValueError(
                f"rc_us={self.rc_us!r}, noise_mv={self.noise_mv!r}, delay_us={self.delay_us!r}: "
                "must be >= 0"
            )
        if not self.v_low < self.threshold < self.v_high:
            raise LabkitValueError(
                f"threshold={self.threshold!r}: must lie between v_low and v_high"
            )
        if abs(self.ppm0) >= 50_000 or abs(self.ppm1) >= 50_000:
            raise LabkitValueError("ppm0/ppm1: a clock error must be within ±5 % (50000 ppm)")

    def crossing_delay(self, rising: bool) -> float:
        """Seconds from an ideal edge until the RC-filtered wire crosses the threshold."""
        tau = self.rc_us * 1e-6
        swing = self.v_high - self.v_low
        margin = (self.v_high - self.threshold) if rising else (self.threshold - self.v_low)
        return tau * math.log(swing / margin)


class Wire:
    """The ideal logic level one board drives onto a wire, as a list of changes in time.

    A change the sender makes at ``t`` reaches the receiver's end at ``t + delay``
    (the propagation delay); the times stored are those at the receiver's end.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.times: list[float] = [-math.inf]
        self.levels: list[int] = [0]
        self.delay = delay

    def drive(self, t: float, level: int) -> None:
        """From time ``t`` on the sender drives ``level`` (later plans are cancelled)."""
        t += self.delay
        i = bisect.bisect_right(self.times, t)
        del self.times[i:], self.levels[i:]
        if self.levels[-1] != level:
            self.times.append(t)
            self.levels.append(level)

    def level_at(self, t: float) -> int:
        return self.levels[bisect.bisect_right(self.times, t) - 1]

    def levels_at(self, times: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.times), times, side="right") - 1
        return np.asarray(self.levels, dtype=np.uint8)[idx]

    def next_edge(self, after: float, rising: bool | None = None) -> tuple[float, bool] | None:
        """The first change after ``after`` (optionally only rising or falling ones)."""
        i = bisect.bisect_right(self.times, after)
        while i < len(self.times):
            up = self.levels[i] > self.levels[i - 1]
            if rising is None or up == rising:
                return self.times[i], up
            i += 1
        return None


@dataclass
class _Capture:
    """A SAMPLE or RECEIVE command in progress: resolved once the host looks at the board again."""

    seq: int
    cmd: P.Sample | P.Receive | P.Scope
    tick_cycles: int
    start: float  # when Timer1 started


@dataclass
class _Bridge:
    rate: int
    tick: float  # true seconds per bridge tick (4 per bit)
    start: float
    tx_bytes: list[tuple[float, float, int]] = field(default_factory=list)  # start, stop, byte
    tx_next_action: int = 1  # the first 4-tick action index free for a new start bit
    rx_tick: int = 0  # the receiver has handled every tick up to this one
    rx_wait_high: bool = True  # the firmware's RX_WAIT_HIGH: wait for a high line first
    rx_pending: list[tuple[float, int]] = field(default_factory=list)  # received, not yet sent
    received: int = 0
    framing: int = 0
    noisy: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # noisy reads...
    noisy_base: int = 0  # ...from this tick on


class SimBoard:
    """One simulated board: the firmware's state machine for one serial port."""

    def __init__(self, pair: SimPair, index: int) -> None:
        self.pair = pair
        self.index = index
        self.firmware = "labkit"
        self.proto = (P.PROTO_MAJOR, P.PROTO_MINOR)
        self.reset_on_open = True
        self.boot_s = 1.0
        self.is_open = False
        self.unplugged = False  # the USB cable was pulled out (unplug())
        self._events: list[tuple[float, int, bytes]] = []
        self._counter = 0
        self.host_buffer = bytearray()  # arrived at the host, not yet read
        self._power_on(-math.inf)

    def unplug(self) -> None:
        """Pull the board's USB cable out: its open port fails from now on, as a real one does."""
        self.unplugged = True

    # ------------------------------------------------------------------ basics

    @property
    def ppm(self) -> float:
        return self.pair.model.ppm0 if self.index == 0 else self.pair.model.ppm1

    def seconds(self, cycles: int) -> float:
        """True seconds for ``cycles`` of this board's (slightly wrong) 16 MHz clock."""
        return cycles / (P.F_CPU * (1 + self.ppm * 1e-6))

    @property
    def out_wire(self) -> Wire:
        return self.pair.wires[self.index]

    @property
    def in_wire(self) -> Wire:
        return self.pair.wires[1 - self.index]

    def _emit(self, t: float, frame: P.Frame | bytes) -> float:
        """Send bytes to the host from time ``t``; returns when the last byte has left."""
        data = frame.pack() if isinstance(frame, P.Frame) else frame
        done = t + len(data) * BYTE_S
        self._counter += 1
        heapq.heappush(self._events, (done + USB_LATENCY_S, self._counter, data))
        return done

    def _error(
        self, t: float, seq: int, code: int, command: int, field_: int = P.NO_FIELD
    ) -> float:
        err = P.ErrorReply.make(code, command, field_)
        return self._emit(t, P.Frame(P.ERROR, seq, err.pack()))

    def _power_on(self, t: float) -> None:
        self.parser = P.FrameParser(P.MAX_CMD_PAYLOAD)
        self.frame_started = 0.0
        self.busy_until = t
        self.backlog = 0
        self.boot_end = t
        self.capture: _Capture | None = None
        self.bridge: _Bridge | None = None

    def reset(self, t: float) -> None:
        """The reset line was pulsed at ``t`` (the host opened the port): reboot."""
        self._events.clear()
        self.host_buffer.clear()
        self._power_on(t)
        self.out_wire.drive(t, 0)
        boot = t + self.boot_s
        self.boot_end = boot  # until then the bootloader runs, and eats what the host sends
        self.busy_until = boot
        if self.firmware == "labkit":
            self.busy_until = self._emit(boot, P.Frame(P.BANNER, 0, self._banner().pack()))
        elif self.firmware == "text":
            # Another sketch: prints a line every second, and ignores the host.
            for k in range(120):
                self._emit(boot + k, b"Hello from Blink! LED on\r\n")

    def _banner(self) -> P.Banner:
        return replace(P.banner(), proto_major=self.proto[0], proto_minor=self.proto[1])

    # ------------------------------------------------------------------ host side

    def host_write(self, data: bytes) -> None:
        now = self.pair.now
        if self.capture is not None:
            self._finish_capture()  # the firmware reads new bytes only after the capture
        self.resolve(now)
        if self.firmware != "labkit":
            return
        for i, c in enumerate(data):
            arrive = now + USB_LATENCY_S + (i + 1) * BYTE_S
            if arrive < self.boot_end:
                continue
            if arrive < self.busy_until:
                # The firmware is busy (transmitting, sampling, booting): the byte waits
                # in the 128-byte receive ring, or is lost when the ring is full.
                if self.backlog >= P.UART_RING - 1:
                    continue
                self.backlog += 1
                t = self.busy_until
            else:
                self.backlog = 0
                t = arrive
            self._frame_timeout(t)
            if not self.parser.partial and c == P.SYNC:
                self.frame_started = t
            for item in self.parser.feed(bytes([c])):
                self._handle(item, t)

    def _frame_timeout(self, t: float) -> None:
        """The firmware drops half a frame 100 ms after its first byte (when not busy)."""
        if self.parser.partial and t - self.frame_started > P.FRAME_TIMEOUT_S:
            when = max(self.frame_started + P.FRAME_TIMEOUT_S, self.busy_until)
            typ, seq = self.parser.partial_header()
            self.parser.reset()
            self.busy_until = self._error(
                when, seq if seq is not None else 0, P.E_FRAME_TIMEOUT, typ or 0
            )

    def resolve(self, t: float) -> None:
        """Work out what the board has done up to time ``t`` (a pending capture excepted)."""
        if self.firmware != "labkit":
            return
        self._frame_timeout(t)
        if self.bridge is not None:
            self._bridge_receive(self.bridge, t, flush_all=False)

    def next_event_time(self) -> float | None:
        """When something next happens on its own: a reply arrives, or a frame times out."""
        times = [self._events[0][0]] if self._events else []
        if self.parser.partial and self.firmware == "labkit":
            times.append(self.frame_started + P.FRAME_TIMEOUT_S + 1e-9)
        return min(times) if times else None

    def deliver(self, t: float) -> None:
        """Move every byte that has reached the host by time ``t`` into its buffer."""
        while self._events and self._events[0][0] <= t:
            self.host_buffer += heapq.heappop(self._events)[2]

    # ------------------------------------------------------------------ commands

    def _handle(self, item: P.Frame | tuple[str, int, int], t: float) -> None:
        if isinstance(item, tuple):
            kind, typ, seq = item
            code = P.E_CRC if kind == "crc" else P.E_TOO_LONG
            self.busy_until = self._error(t, seq, code, typ)
            return
        self._dispatch(item, t)

    def _dispatch(self, f: P.Frame, t: float) -> None:
        seq, typ, pl = f.seq, f.type, f.payload
        n = len(pl)
        if self.bridge is not None and typ in (P.TRANSMIT, P.SAMPLE, P.RECEIVE, P.SCOPE,
                                               P.BRIDGE):
            self.busy_until = self._error(t, seq, P.E_BUSY, typ)
            return
        if typ == P.HELLO:
            if n != 0:
                self.busy_until = self._error(t, seq, P.E_PAYLOAD, typ)
            else:
                self.busy_until = self._emit(t, P.Frame(P.BANNER, seq, self._banner().pack()))
        elif typ == P.PING:
            if n > P.PING_MAX:
                self.busy_until = self._error(t, seq, P.E_PAYLOAD, typ)
            else:
                self.busy_until = self._emit(t, P.Frame(P.PONG, seq, pl))
        elif typ == P.TRANSMIT:
            self._transmit(seq, pl, t)
        elif typ == P.SAMPLE:
            self._sample(seq, pl, t)
        elif typ == P.RECEIVE:
            self._receive(seq, pl, t)
        elif typ == P.SCOPE:
            self._scope(seq, pl, t)
        elif typ == P.BRIDGE:
            self._bridge_start(seq, pl, t)
        elif typ == P.BRIDGE_DATA:
            self._bridge_data(seq, pl, t)
        elif typ == P.BRIDGE_STOP:
            self._bridge_stop(seq, pl, t)
        else:
            self.busy_until = self._error(t, seq, P.E_UNKNOWN, typ)

    def _transmit(self, seq: int, pl: bytes, t: float) -> None:
        err = lambda code, fld=P.NO_FIELD: self._error(t, seq, code, P.TRANSMIT, fld)  # noqa: E731
        if len(pl) < 8:
            self.busy_until = err(P.E_PAYLOAD)
            return
        cmd = P.Transmit.parse(pl)
        if cmd.code > 2:
            self.busy_until = err(P.E_RANGE, 0)
        elif cmd.idle > 1:
            self.busy_until = err(P.E_RANGE, 1)
        elif not P.TX_MIN_RATE <= cmd.bit_rate <= P.TX_MAX_RATE:
            self.busy_until = err(P.E_RANGE, 2)
        elif not 1 <= cmd.nbits <= P.TX_MAX_BITS:
            self.busy_until = err(P.E_RANGE, 3)
        elif len(pl) != 8 + (cmd.nbits + 7) // 8:
            self.busy_until = err(P.E_PAYLOAD)
        else:
            cycles = P.timer_tick_cycles(2 * cmd.bit_rate)
            tick = self.seconds(cycles)
            halves = _halves(cmd.bits(), cmd.code, cmd.idle)
            wire = self.out_wire
            wire.drive(t, cmd.idle)
            for h, level in enumerate(halves):
                wire.drive(t + (h + 1) * tick, int(level))
            end = t + (len(halves) + 1) * tick
            wire.drive(end, cmd.idle)
            reply = P.TxDone(cmd.nbits, cycles)
            self.busy_until = self._emit(end, P.Frame(P.TX_DONE, seq, reply.pack()))

    def _sample(self, seq: int, pl: bytes, t: float) -> None:
        err = lambda code, fld=P.NO_FIELD: self._error(t, seq, code, P.SAMPLE, fld)  # noqa: E731
        if len(pl) != 10:
            self.busy_until = err(P.E_PAYLOAD)
            return
        cmd = P.Sample.parse(pl)
        analog = cmd.mode == 1
        if cmd.mode > 1:
            self.busy_until = err(P.E_RANGE, 0)
        elif cmd.trigger > 3:
            self.busy_until = err(P.E_RANGE, 1)
        elif not P.SAMPLE_MIN_RATE <= cmd.rate <= (
            P.ANALOG_MAX_RATE if analog else P.DIGITAL_MAX_RATE
        ):
            self.busy_until = err(P.E_RANGE, 2)
        elif not 1 <= cmd.count <= (P.ANALOG_MAX_COUNT if analog else P.DIGITAL_MAX_COUNT):
            self.busy_until = err(P.E_RANGE, 3)
        elif cmd.trigger != 0 and not 1 <= cmd.timeout_ms <= P.MAX_TIMEOUT_MS:
            self.busy_until = err(P.E_RANGE, 4)
        else:
            cycles = P.timer_tick_cycles(cmd.rate)
            sent = self._emit(t, P.Frame(P.ARMED, seq, P.Armed(cycles, cmd.count).pack()))
            self.capture = _Capture(seq, cmd, cycles, sent + CLEAR_BUFFER_S)
            self.busy_until = math.inf  # until the capture is resolved

    def _finish_capture(self) -> None:
        cap, self.capture = self.capture, None
        assert cap is not None
        if isinstance(cap.cmd, P.Receive):
            self._finish_receive(cap, cap.cmd)
            return
        if isinstance(cap.cmd, P.Scope):
            self._finish_scope(cap, cap.cmd)
            return
        cmd, model = cap.cmd, self.pair.model
        tick = self.seconds(cap.tick_cycles)
        wire = self.in_wire
        first: int | None  # the tick of the first sample; None: the trigger timed out
        if cmd.trigger == 0:
            first = 1
        else:
            limit = P.trigger_wait_ticks(cmd.timeout_ms, cmd.rate)
            first = None
            want = {1: None, 2: True, 3: False}[cmd.trigger]
            # Noise that can push the resting line across the threshold (8 sigma past
            # it) also fires the trigger, as on the twin: then read every tick.
            rest = min(model.threshold - model.v_low, model.v_high - model.threshold)
            if model.noise_mv / 1000 * 8 > rest:
                first = self._noisy_trigger(cap, tick, limit, want)
            else:
                edge = wire.next_edge(cap.start, want)
                if edge is not None:
                    te, up = edge
                    k = max(1, math.ceil((te + model.crossing_delay(up) - cap.start) / tick))
                    first = k if k <= limit else None
            if first is None:
                end = cap.start + limit * tick
                self.busy_until = self._error(end, cap.seq, P.E_TRIGGER_TIMEOUT, P.SAMPLE)
                return
        analog = cmd.mode == 1
        t0 = cap.start + first * tick + (ADC_SAMPLE_DELAY_S if analog else 0.0)
        volts = self.pair.render(wire, t0, cmd.count, cap.tick_cycles, self.ppm)
        if analog:
            codes = np.clip(np.floor(volts * P.ADC_LEVELS / P.ADC_VREF), 0, 255).astype(np.uint8)
            data = codes.tobytes()
            end = cap.start + (first + cmd.count) * tick
        else:
            bits = (volts > model.threshold).astype(np.uint8)
            data = np.packbits(bits, bitorder="little").tobytes()
            end = cap.start + (first + cmd.count - 1) * tick
        reply = P.Samples(cmd.mode, cmd.trigger, cap.tick_cycles, cmd.count, data)
        self.busy_until = self._emit(end, P.Frame(P.SAMPLES, cap.seq, reply.pack()))

    # ------------------------------------------------------------------ receive

    def _receive(self, seq: int, pl: bytes, t: float) -> None:
        err = lambda code, fld=P.NO_FIELD: self._error(t, seq, code, P.RECEIVE, fld)  # noqa: E731
        if len(pl) != 10:
            self.busy_until = err(P.E_PAYLOAD)
            return
        cmd = P.Receive.parse(pl)
        if cmd.code > 2:
            self.busy_until = err(P.E_RANGE, 0)
        elif cmd.idle > 1:
            self.busy_until = err(P.E_RANGE, 1)
        elif not P.RX_MIN_RATE <= cmd.bit_rate <= P.TX_MAX_RATE:
            self.busy_until = err(P.E_RANGE, 2)
        elif not 1 <= cmd.nbits <= P.TX_MAX_BITS:
            self.busy_until = err(P.E_RANGE, 3)
        elif not 1 <= cmd.timeout_ms <= P.MAX_TIMEOUT_MS:
            self.busy_until = err(P.E_RANGE, 4)
        else:
            pre, _, _ = _receive_timing(cmd)
            sent = self._emit(t, P.Frame(P.ARMED, seq, P.Armed(pre, cmd.nbits).pack()))
            self.capture = _Capture(seq, cmd, pre, sent)
            self.busy_until = math.inf  # until the frame is resolved

    def _finish_receive(self, cap: _Capture, cmd: P.Receive) -> None:
        """The firmware's RECEIVE: the edges D8 shows (the wire's voltage plus fresh noise
        every 0.5 us, as the twin draws it), stored and decoded as firmware.c does."""
        model, wire = self.pair.model, self.in_wire
        pre, unit, shift = _receive_timing(cmd)
        want = cmd.idle == 0
        edge = wire.next_edge(cap.start, want)
        timeout = cap.start + cmd.timeout_ms / 1000
        step = RX_NOISE_STEP_S
        if edge is None or edge[0] + model.crossing_delay(want) > timeout:
            self.busy_until = self._error(timeout, cap.seq, P.E_TRIGGER_TIMEOUT, P.RECEIVE)
            return
        counts_per_s = P.F_CPU * (1 + self.ppm * 1e-6) / pre
        quiet_s = P.RX_QUIET_UNITS * unit / counts_per_s
        last_change = wire.times[-1]
        t_from = max(cap.start, edge[0] - 2e-6)
        t_to = max(last_change, t_from) + 12 * model.rc_us * 1e-6 + quiet_s + 4 * step
        times = t_from + step * np.arange(int(math.ceil((t_to - t_from) / step)))
        levels = np.concatenate([self._noisy_levels(times[i : i + 1024])
                                 for i in range(0, times.size, 1024)]) if times.size else times
        flips = _capture_loop(levels.astype(np.uint8))
        # the first edge away from idle, then every change: times in the board's counts
        first = next((int(i) for i in flips if levels[i] != cmd.idle), None)
        if first is None:
            self.busy_until = self._error(timeout, cap.seq, P.E_TRIGGER_TIMEOUT, P.RECEIVE)
            return
        t0 = times[first]
        stamps = [int((times[i] - t0) * counts_per_s) for i in flips if i > first]
        deltas: list[int] = []
        used = 0
        last = 0
        end_s = t0
        for c in stamps:
            if c - last > P.RX_QUIET_UNITS * unit:
                break  # the line was quiet for 64 units: the firmware stopped listening
            d = (c - last) >> shift
            last += d << shift
            used += 1 if d < 255 else 3
            if used > P.SAMPLE_BUF_BYTES - 3:
                break
            deltas.append(d)
            end_s = t0 + c / counts_per_s
        bits, edges, decoded = decode_edges(deltas, cmd.code, cmd.idle, unit >> shift, cmd.nbits)
        end = end_s + quiet_s
        reply = P.Received(cmd.code, edges, decoded, cmd.nbits, np.packbits(bits).tobytes())
        self.busy_until = self._emit(end, P.Frame(P.RECEIVED, cap.seq, reply.pack()))

    # ------------------------------------------------------------------ scope

    def _scope(self, seq: int, pl: bytes, t: float) -> None:
        err = lambda code, fld=P.NO_FIELD: self._error(t, seq, code, P.SCOPE, fld)  # noqa: E731
        if len(pl) != 9:
            self.busy_until = err(P.E_PAYLOAD)
            return
        cmd = P.Scope.parse(pl)
        if not 1 <= cmd.trigger <= 3:
            self.busy_until = err(P.E_RANGE, 0)
        elif cmd.delay_cycles < P.SCOPE_MIN_DELAY:
            self.busy_until = err(P.E_RANGE, 1)
        elif cmd.period_cycles < P.SCOPE_MIN_PERIOD:
            self.busy_until = err(P.E_RANGE, 2)
        elif not 1 <= cmd.count <= P.ANALOG_MAX_COUNT:
            self.busy_until = err(P.E_RANGE, 3)
        elif not 1 <= cmd.timeout_ms <= P.MAX_TIMEOUT_MS:
            self.busy_until = err(P.E_RANGE, 4)
        else:
            sent = self._emit(t, P.Frame(P.ARMED, seq,
                                         P.Armed(cmd.period_cycles, cmd.count).pack()))
            self.capture = _Capture(seq, cmd, cmd.period_cycles, sent)
            self.busy_until = math.inf  # until the trigger and the samples are resolved

    def _crossing(self, after: float, rising: bool | None) -> float | None:
        """When D8 next crosses its threshold after ``after`` (in the direction asked; None:
        away from the level it reads then), without noise: the RC voltage on a fine grid."""
        model, wire = self.pair.model, self.in_wire
        if rising is None:
            rising = not self._wire_volts(np.array([after]))[0] > model.threshold
        tau = model.rc_us * 1e-6
        while True:
            edge = wire.next_edge(after, rising)
            if edge is None:
                return None
            step = max(tau / 200, 1e-8)
            times = edge[0] + step * np.arange(int(12 * tau / step) + 2)
            v = self._wire_volts(times)
            hit = np.flatnonzero(v > model.threshold if rising else v < model.threshold)
            if hit.size:
                return float(times[hit[0]])
            after = edge[0]  # a pulse too short to cross: the next edge

    def _finish_scope(self, cap: _Capture, cmd: P.Scope) -> None:
        """firmware.c's SCOPE: A0 at exact delays after D8's trigger edge (plus the ADC's hold)."""
        model = self.pair.model
        timeout = cap.start + cmd.timeout_ms / 1000
        te = self._crossing(cap.start, {1: None, 2: True, 3: False}[cmd.trigger])
        if te is None or te > timeout:
            self.busy_until = self._error(timeout, cap.seq, P.E_TRIGGER_TIMEOUT, P.SCOPE)
            return
        cycles = cmd.delay_cycles + cmd.period_cycles * np.arange(cmd.count)
        times = te + cycles / (P.F_CPU * (1 + self.ppm * 1e-6)) + ADC_SAMPLE_DELAY_S
        volts = self._wire_volts(times) + self.pair.rng.normal(0.0, model.noise_mv / 1000,
                                                                times.size)
        codes = np.clip(np.floor(volts * P.ADC_LEVELS / P.ADC_VREF), 0, 255).astype(np.uint8)
        reply = P.Samples(1, cmd.trigger, cmd.period_cycles, cmd.count, codes.tobytes())
        end = float(times[-1]) + 13e-6
        self.busy_until = self._emit(end, P.Frame(P.SAMPLES, cap.seq, reply.pack()))

    # ------------------------------------------------------------------ bridge

    def _bridge_start(self, seq: int, pl: bytes, t: float) -> None:
        if len(pl) != 4:
            self.busy_until = self._error(t, seq, P.E_PAYLOAD, P.BRIDGE)
            return
        (rate,) = np.frombuffer(pl, "<u4").tolist()
        if not P.BRIDGE_MIN_RATE <= rate <= P.BRIDGE_MAX_RATE:
            self.busy_until = self._error(t, seq, P.E_RANGE, P.BRIDGE, 0)
            return
        cycles = P.timer_tick_cycles(4 * rate)
        self.bridge = _Bridge(rate, self.seconds(cycles), t)
        self.out_wire.drive(t, 1)
        self.busy_until = self._emit(t, P.Frame(P.BRIDGE_ON, seq, cycles.to_bytes(4, "little")))

    def _bridge_queued(self, b: _Bridge, t: float) -> int:
        """Bytes in the transmit ring at time t (accepted, start bit not yet sent)."""
        return sum(1 for start, _, _ in b.tx_bytes if start > t)

    def _bridge_data(self, seq: int, pl: bytes, t: float) -> None:
        b = self.bridge
        if b is None:
            self.busy_until = self._error(t, seq, P.E_STATE, P.BRIDGE_DATA)
            return
        if not 1 <= len(pl) <= P.BRIDGE_MAX_CHUNK:
            self.busy_until = self._error(t, seq, P.E_PAYLOAD, P.BRIDGE_DATA)
            return
        free = P.BRIDGE_QUEUE - 1 - self._bridge_queued(b, t)
        if len(pl) > free:
            self.busy_until = self._error(t, seq, P.E_BUSY, P.BRIDGE_DATA)
            return
        bit = 4 * b.tick
        m = max(b.tx_next_action, math.floor((t - b.start) / bit) + 1)
        wire = self.out_wire
        for byte in pl:
            t_start = b.start + m * bit
            wire.drive(t_start, 0)  # start bit
            for k in range(8):
                wire.drive(b.start + (m + 1 + k) * bit, (byte >> k) & 1)
            t_stop = b.start + (m + 9) * bit
            wire.drive(t_stop, 1)  # stop bit
            b.tx_bytes.append((t_start, t_stop, byte))
            m += 10
        b.tx_next_action = m
        queued = self._bridge_queued(b, t)
        ack = P.BridgeAck(queued, P.BRIDGE_QUEUE - 1 - queued)
        self.busy_until = self._emit(t, P.Frame(P.BRIDGE_ACK, seq, ack.pack()))

    def _bridge_receive(self, b: _Bridge, until: float, flush_all: bool) -> None:
        """Run the firmware's 4x-oversampling receiver over the wire up to ``until``.

        Without noise the input is the sender's level, late by the RC filter's
        crossing delay, and the receiver jumps from edge to edge. With noise it
        is the RC voltage plus fresh noise at every tick against the threshold,
        as on the twin, read in blocks of ticks with NumPy.
        """
        model = self.pair.model
        wire = self.in_wire
        tick = b.tick
        sigma = model.noise_mv / 1000
        delay = model.crossing_delay(True) / 2 + model.crossing_delay(False) / 2

        def late(k: int) -> bool:
            return b.start + k * tick > until

        if sigma == 0:

            def read(k: int) -> int:  # the digital input at bridge tick k
                return wire.level_at(b.start + k * tick - delay)

            def first(k: int, want: int) -> int | None:
                """The first tick from k that may read ``want`` (None: no edge ahead)."""
                if read(k) == want:
                    return k
                edge = wire.next_edge(b.start + k * tick - delay, rising=bool(want))
                if edge is None:
                    return None
                return max(k, math.ceil((edge[0] + delay - b.start) / tick))

        else:
            k_until = math.floor((until - b.start) / tick)
            if b.rx_tick - b.noisy_base > 16_384:  # forget ticks the receiver has passed
                cut = b.rx_tick - 8192 - b.noisy_base
                b.noisy = b.noisy[cut:]
                b.noisy_base += cut

            def extend(k: int) -> None:
                """Read the noisy input up to tick k (a block at a time)."""
                while b.noisy_base + b.noisy.size <= k:
                    k_from = b.noisy_base + b.noisy.size
                    k_to = min(k + 1, k_from + 1024)
                    b.noisy = np.concatenate([b.noisy, self._noisy_reads(b, k_from, k_to)])

            def read(k: int) -> int:
                extend(k)
                return int(b.noisy[k - b.noisy_base])

            def first(k: int, want: int) -> int | None:
                while k <= k_until:
                    hi = min(k_until, k + 1023)
                    extend(hi)
                    seg = b.noisy[k - b.noisy_base : hi + 1 - b.noisy_base]
                    hits = np.flatnonzero(seg == want)
                    if hits.size:
                        return k + int(hits[0])
                    k = hi + 1
                return k  # past `until`: the caller stops here

        while True:
            if b.rx_wait_high:
                k_next = first(b.rx_tick + 1, 1)
                if k_next is None or late(k_next):
                    break
                b.rx_tick = k_next
                b.rx_wait_high = False
            # Idle: the receiver looks at the line at every tick and starts on a low one.
            k0 = first(b.rx_tick + 1, 0)
            if k0 is None:
                break
            k_stop = k0 + 2 + 4 * 9
            if late(k_stop):
                break
            if read(k0) != 0:  # the edge came and went between ticks
                b.rx_tick = k0
                continue
            if read(k0 + 2):  # high again in the middle of the start bit: a glitch
                b.rx_tick = k0 + 2
                continue
            value = sum(read(k0 + 6 + 4 * i) << i for i in range(8))
            t_stop = b.start + k_stop * tick
            if read(k_stop):
                b.rx_pending.append((t_stop, value))
                b.received += 1
            else:
                b.framing += 1
                b.rx_wait_high = True
            b.rx_tick = k_stop
        self._bridge_flush(b, until, flush_all)

    def _noisy_trigger(
        self, cap: _Capture, tick: float, limit: int, want: bool | None
    ) -> int | None:
        """The firmware's trigger loop on a noisy input: the first tick that differs from
        the tick before in the wanted direction (None if none within ``limit``)."""
        prev = int(self._noisy_levels(np.array([cap.start]))[0])
        k = 1
        while k <= limit:
            k_to = min(limit + 1, k + 4096)
            reads = self._noisy_levels(cap.start + np.arange(k, k_to) * tick).astype(int)
            before = np.concatenate([[prev], reads[:-1]])
            if want is None:
                hits = np.flatnonzero(reads != before)
            elif want:
                hits = np.flatnonzero(reads > before)
            else:
                hits = np.flatnonzero(reads < before)
            if hits.size:
                return k + int(hits[0])
            prev = int(reads[-1])
            k = k_to
        return None

    def _noisy_reads(self, b: _Bridge, k_from: int, k_to: int) -> np.ndarray:
        """The digital input at bridge ticks k_from..k_to-1."""
        return self._noisy_levels(b.start + np.arange(k_from, k_to) * b.tick)

    def _noisy_levels(self, t: np.ndarray) -> np.ndarray:
        """The digital input at times ``t``: RC voltage + fresh noise > threshold."""
        model = self.pair.model
        v = self._wire_volts(t)
        v = v + self.pair.rng.normal(0.0, model.noise_mv / 1000, v.size)
        return (v > model.threshold).astype(np.uint8)

    def _wire_volts(self, t: np.ndarray) -> np.ndarray:
        """The voltage of the wire this board reads, at times ``t`` (no noise)."""
        model, wire = self.pair.model, self.in_wire
        tau = model.rc_us * 1e-6
        if tau <= 0:
            x = wire.levels_at(t).astype(float)
        else:
            # The RC filter's answer to each change since the line last settled (12 tau).
            i0 = bisect.bisect_right(wire.times, t[0] - 12 * tau) - 1
            i1 = bisect.bisect_right(wire.times, t[-1])
            te = np.array(wire.times[i0 + 1 : i1])
            steps = np.diff(np.array(wire.levels[i0:i1], dtype=float))
            # A block of times at a time: the matrix is times x changes, and a trigger
            # loop's 4096 reads across a whole frame's 760 changes were 25 MB a copy
            # (notebook 02's BER sweep peaked 53 MB above the rest of the lesson).
            x = np.empty(t.size)
            rows = max(1, WIRE_BLOCK // max(1, te.size))
            for s in range(0, t.size, rows):
                dt = t[s : s + rows, None] - te[None, :]
                rise = np.where(dt > 0, -np.expm1(-np.maximum(dt, 0) / tau), 0.0)
                x[s : s + rows] = wire.levels[i0] + rise @ steps
        return model.v_low + x * (model.v_high - model.v_low)

    def _bridge_flush(self, b: _Bridge, until: float, flush_all: bool) -> None:
        """Send received bytes as the main loop does: 32 at a time, or 2 ms after the last.

        With ``flush_all`` (BRIDGE_STOP at ``until``) everything left goes at once.
        """
        pending = b.rx_pending
        while pending:
            for i in range(len(pending)):
                if i + 1 == P.BRIDGE_RECV_CHUNK:
                    n, when = i + 1, pending[i][0]
                    break
                if i + 1 < len(pending) and pending[i + 1][0] - pending[i][0] >= P.BRIDGE_FLUSH_S:
                    n, when = i + 1, pending[i][0] + P.BRIDGE_FLUSH_S
                    break
            else:
                n, when = len(pending), pending[-1][0] + P.BRIDGE_FLUSH_S
                if flush_all:
                    when = min(when, until)
                elif when > until:
                    return
            chunk = bytes(v for _, v in pending[:n])
            del pending[:n]
            self._emit(when, P.Frame(P.BRIDGE_RECV, 0, chunk))

    def _bridge_stop(self, seq: int, pl: bytes, t: float) -> None:
        if len(pl) != 0:
            self.busy_until = self._error(t, seq, P.E_PAYLOAD, P.BRIDGE_STOP)
            return
        b = self.bridge
        if b is None:
            self.busy_until = self._error(t, seq, P.E_STATE, P.BRIDGE_STOP)
            return
        self._bridge_receive(b, t, flush_all=True)
        self.bridge = None
        sent = sum(1 for _, stop, _ in b.tx_bytes if stop <= t)
        not_sent = len(b.tx_bytes) - sent
        self.out_wire.drive(t, 0)
        stats = P.BridgeStats(sent, b.received, b.framing, 0, not_sent)
        self.busy_until = self._emit(t, P.Frame(P.BRIDGE_STATS, seq, stats.pack()))


RX_NOISE_STEP_S = 0.5e-6  # the twin draws fresh noise on D8 this often near the threshold


def _capture_loop(levels: np.ndarray) -> np.ndarray:
    """The edges firmware.c's RECEIVE loop records from D8's levels on the 0.5 µs noise grid.

    The loop reads the pin after each input capture and every few cycles (about
    30 a round, 2 µs), so a noise pulse of one or two grid steps (1 µs or less) is
    gone before it looks: the level it sees is the majority of 5 steps. Each edge it
    records is dated by the input capture: the first crossing in that direction in
    the 2 µs before (an earlier one was a pulse the loop saw go back, after which it
    re-armed the capture). Returns the grid indices of those crossings.
    """
    if levels.size < 5:
        return np.flatnonzero(np.diff(levels.astype(np.int8)) != 0) + 1
    padded = np.concatenate([levels[:1], levels[:1], levels, levels[-1:], levels[-1:]])
    seen = (np.convolve(padded.astype(np.int16), np.ones(5, np.int16), "valid") >= 3)
    seen_flips = np.flatnonzero(np.diff(seen.astype(np.int8)) != 0) + 1
    raw = np.diff(levels.astype(np.int8))
    up, down = np.flatnonzero(raw > 0) + 1, np.flatnonzero(raw < 0) + 1
    out = []
    for j in seen_flips:
        # earlier crossings were pulses the loop saw go back (it then re-arms the capture)
        crossings = up if seen[j] else down
        k = int(np.searchsorted(crossings, j - 4, side="left"))
        out.append(int(crossings[k]) if k < crossings.size and crossings[k] <= j else int(j))
    return np.array(out, dtype=np.int64)


def _receive_timing(cmd: P.Receive) -> tuple[int, int, int]:
    """RECEIVE's prescaler, unit (a bit, or a half-bit for Manchester) in timer counts, and
    the shift of the edge buffer's counts, as firmware.c computes them."""
    unit_cycles = (P.F_CPU + cmd.bit_rate // 2) // cmd.bit_rate
    if cmd.code == 2:
        unit_cycles //= 2
    pre = 1
    for p in (8, 64):
        if unit_cycles // pre <= 200:
            break
        pre = p
    unit = unit_cycles // pre
    return pre, unit, 1 if unit > 100 else 0


def _cdiv(a: int, b: int) -> int:
    """C's integer division (towards zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def decode_edges(
    deltas: list[int], code: int, idle: int, unit: int, nbits: int
) -> tuple[np.ndarray, int, int]:
    """firmware.c's RECEIVE decoder: bits from the times between edges (the first edge is 0).

    Returns the ``nbits`` bits, the edges used and how many bits came from edges.
    """
    manchester = code == 2
    delay = [0, 0, 0, 0]
    out: list[int] = [1] if code == 1 else []
    edges, ref, t, mid = 1, 0, 0, 0
    max_run = 2 if manchester else 255
    confirm = unit // 4
    level = line = 1 - idle
    i = 0
    while len(out) < nbits and i < len(deltas):
        t += deltas[i]
        i += 1
        line ^= 1
        if line == level:
            continue
        at = t
        while i < len(deltas) and t + deltas[i] - at <= confirm:
            t += deltas[i]
            i += 1
            line ^= 1
        if line == level:
            continue  # it went back: a glitch
        e = at - ref
        n, span, expect = 1, unit, unit
        while n < max_run:
            nxt = span + unit + delay[min(n, 3)]
            if abs(e - expect) <= abs(e - nxt):
                break
            n += 1
            span += unit
            expect = nxt
        err = e - expect
        k = min(n, 4) - 1
        if k:
            delay[k] += _cdiv(err, 8)
        ref += span + _cdiv(err, 4)
        edges += 1
        if manchester:
            mid = 1 if n == 2 else 1 - mid
            if mid:
                out.append(line)
        elif code == 0:
            out += [level] * n
        else:
            out += [0] * (n - 1) + [1]
        level = line
    decoded = min(len(out), nbits)
    fill = 0 if code == 1 else level
    out = out[:nbits] + [fill] * (nbits - min(len(out), nbits))
    return np.array(out, dtype=np.uint8), edges, decoded


def _halves(bits: np.ndarray, code: int, idle: int) -> np.ndarray:
    """The level of every half-bit, as the firmware's TRANSMIT loop computes it."""
    b = bits.astype(np.uint8)
    if code == 0:  # NRZ-L
        return np.repeat(b, 2)
    if code == 1:  # NRZ-I: a 1 flips the level at the start of the bit
        return np.repeat(np.bitwise_xor.accumulate(b) ^ idle, 2)
    out = np.empty((b.size, 2), dtype=np.uint8)  # Manchester, IEEE 802.3
    out[:, 0] = 1 - b
    out[:, 1] = b
    return out.reshape(-1)


class SimPair:
    """Two boards, two wires, one virtual clock and one noise generator."""

    def __init__(self, name: str, model: WireModel | None = None) -> None:
        self.name = name
        self.model = model or WireModel()
        self.now = 0.0
        self.rng = np.random.default_rng(self.model.seed)
        delay = self.model.delay_us * 1e-6
        self.wires = (Wire(delay), Wire(delay))
        self.boards = (SimBoard(self, 0), SimBoard(self, 1))

    def render(
        self, wire: Wire, t0: float, count: int, tick_cycles: int, ppm: float
    ) -> np.ndarray:
        """Voltages a receiver reads: samples at t0 + k * period of its own clock."""
        m = self.model
        oversample = 8
        grid = tick_cycles / P.F_CPU / oversample  # a nominal sample period / 8
        tau = m.rc_us * 1e-6
        pad = min(10 * tau, 4096 * grid) + 2 * grid
        drift = 1 / (1 + ppm * 1e-6) - 1
        span = count * oversample * (1 + drift) + pad / grid + 4
        times = (t0 - pad) + grid * np.arange(int(math.ceil(span)))
        volts = m.v_low + wire.levels_at(times) * (m.v_high - m.v_low)
        if tau > 0:
            volts = low_pass(volts, tau / grid)
        read = clock_skew(volts, offset=pad / grid, drift=drift)[::oversample][:count]
        if m.noise_mv > 0:
            power = ((m.v_high - m.v_low) / 2) ** 2
            snr_db = 10 * math.log10(power / (m.noise_mv / 1000) ** 2)
            read = add_noise(read, snr_db, self.rng, signal_power=power)
        return read

    # ------------------------------------------------------------------ host I/O

    def advance(self, board: SimBoard, size: int, timeout: float | None) -> None:
        """Let virtual time pass until ``board`` has ``size`` bytes for the host, or timeout."""
        deadline = math.inf if timeout is None else self.now + timeout
        while True:
            board.resolve(self.now)
            board.deliver(self.now)
            if len(board.host_buffer) >= size or self.now >= deadline:
                return
            nxt = board.next_event_time()
            if nxt is None and board.capture is not None:
                # The host waits for the capture, so nothing else happens on the wire
                # from this side any more: work out what the receiver saw.
                board._finish_capture()
                continue
            if board.bridge is not None:
                step = self.now + BRIDGE_STEP_S
                nxt = step if nxt is None else min(nxt, step)
            if nxt is None:
                if timeout is None:
                    return  # nothing will ever come: do not hang
                self.now = deadline
            else:
                self.now = min(max(nxt, self.now), deadline)


_PAIRS: dict[str, SimPair] = {}


def pairs() -> dict[str, SimPair]:
    """The simulated pairs that exist (one per name, while any of its ports is open)."""
    return _PAIRS


def get_pair(name: str, model: WireModel | None = None) -> SimPair:
    """The pair called ``name``, created with ``model`` if it does not exist yet."""
    pair = _PAIRS.get(name)
    if pair is None:
        pair = _PAIRS[name] = SimPair(name, model)
    elif model is not None and model != pair.model:
        raise LabkitValueError(
            f"pair {name!r} is already open with {pair.model}; close both ports, or use "
            "another pair name, to change its wire"
        )
    return pair


def drop_pair(name: str) -> None:
    _PAIRS.pop(name, None)
