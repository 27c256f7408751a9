/*
 * labkit-hw firmware for the ATmega328P (Arduino Uno / Nano, 16 MHz).
 *
 * One firmware, both roles. The host (a Python program on the computer at the
 * other end of the USB cable) sends commands in binary frames, as
 * hardware/PROTOCOL.md describes, and the board
 *
 *   - TRANSMITs a bit sequence on pin D7 as NRZ-L, NRZ-I or Manchester,
 *     with each half-bit timed by Timer1;
 *   - SAMPLEs the wire on pin D8 (digital, 0/1) or A0 (analog, the ADC) at
 *     a rate set by Timer1, optionally waiting for an edge first;
 *   - RECEIVEs a frame sent with a line code: Timer1's input capture on D8
 *     (ICP1) timestamps every edge, and the bits are decoded from the times
 *     between edges;
 *   - SCOPEs the wire: one ADC sample of A0 at an exact delay after an edge on
 *     D8, then one every `period` cycles, so that the host can repeat a waveform
 *     and shift the delay each time (equivalent-time sampling, like a sampling
 *     oscilloscope: one ADC conversion takes 13 us, longer than the wire's
 *     tau = 22 us allows to resolve);
 *   - runs a byte BRIDGE: bytes from the host leave on D7 as asynchronous
 *     serial frames (start bit, 8 data bits, stop bit, like a UART) and
 *     bytes arriving on D8 go to the host.
 *
 * Registers, not Arduino functions: every timer, pin and ADC setting is
 * written here so that you can look it up in the ATmega328P datasheet
 * (chapter numbers below refer to the 2015 "ATmega48A/PA/88A/PA/168A/PA/
 * 328/P" datasheet).
 *
 * Pins (Arduino name = AVR port pin):
 *   D7  = PD7  wire output (transmitter)
 *   D8  = PB0  wire input, digital (receiver)
 *   A0  = PC0  wire input, analog: ADC channel 0 (receiver)
 *   D13 = PB5  the on-board LED: lit while transmitting or sampling
 *   D0/D1      the USB serial link to the host (500000 baud, 8N1)
 */

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <stdint.h>
#include <util/crc16.h>

#ifndef F_CPU
#define F_CPU 16000000UL
#endif

/* ---------------------------------------------------------------------- */
/* Versions and limits (PROTOCOL.md, "Limits")                            */
/* ---------------------------------------------------------------------- */

#define PROTO_MAJOR 1
#define PROTO_MINOR 1 /* 1.1: SCOPE */
#define FW_MAJOR 1
#define FW_MINOR 1
#define FW_PATCH 0

#ifndef HOST_BAUD
#define HOST_BAUD 500000UL /* PROTOCOL.md; `make HOST_BAUD=115200` builds a slower variant */
#endif

#define SYNC 0xA5
#define MAX_CMD_PAYLOAD 264   /* TRANSMIT: 8 bytes of parameters + 256 bytes of bits */
#define FRAME_TIMEOUT_MS 100  /* a frame must arrive within 100 ms of its first byte */

#define TX_MIN_RATE 10UL
#define TX_MAX_RATE 100000UL
#define TX_MAX_BITS 2048U
#define RX_MIN_RATE 1000UL /* RECEIVE: 64 units must fit Timer1 at a prescaler of 64 */
#define RX_QUIET_UNITS 64U /* RECEIVE stops after this many units without an edge */

#define SAMPLE_MIN_RATE 10UL
#define DIGITAL_MAX_RATE 200000UL
#define ANALOG_MAX_RATE 40000UL
#define SAMPLE_BUF_BYTES 1024U
#define DIGITAL_MAX_COUNT (SAMPLE_BUF_BYTES * 8U) /* one bit per sample */
#define ANALOG_MAX_COUNT SAMPLE_BUF_BYTES        /* one byte per sample */
#define MAX_TIMEOUT_MS 60000U

#define SCOPE_MIN_DELAY 64U   /* cycles from the trigger edge to the first conversion */
#define SCOPE_MIN_PERIOD 256U  /* cycles between conversions: 13 ADC clocks + 1 to start, + the loop */

#define BRIDGE_MIN_RATE 300UL
#define BRIDGE_MAX_RATE 19200UL
#define BRIDGE_QUEUE 256U      /* each direction; a power of two */
#define BRIDGE_MAX_CHUNK 64U   /* bytes per BRIDGE_DATA frame from the host */
#define BRIDGE_RECV_CHUNK 32U  /* bytes per BRIDGE_RECV frame to the host */
#define BRIDGE_FLUSH_MS 2      /* send received bytes after 2 ms without a new one */

/* Frame types (PROTOCOL.md, "Commands" and "Replies") */
enum {
    CMD_HELLO = 0x01,
    CMD_PING = 0x02,
    CMD_TRANSMIT = 0x03,
    CMD_SAMPLE = 0x04,
    CMD_RECEIVE = 0x05,
    CMD_BRIDGE = 0x06,
    CMD_BRIDGE_DATA = 0x07,
    CMD_BRIDGE_STOP = 0x08,
    CMD_SCOPE = 0x09,
    REP_BANNER = 0x81,
    REP_PONG = 0x82,
    REP_TX_DONE = 0x83,
    REP_ARMED = 0x84,
    REP_SAMPLES = 0x85,
    REP_BRIDGE_ON = 0x86,
    REP_BRIDGE_ACK = 0x87,
    REP_BRIDGE_RECV = 0x88,
    REP_BRIDGE_STATS = 0x89,
    REP_RECEIVED = 0x8A,
    REP_ERROR = 0xFF
};

/* Error codes (PROTOCOL.md, "Errors") */
enum {
    E_CRC = 1,
    E_TOO_LONG = 2,
    E_UNKNOWN = 3,
    E_PAYLOAD = 4,
    E_RANGE = 5,
    E_TRIGGER_TIMEOUT = 6,
    E_BUSY = 7,
    E_STATE = 8,
    E_FRAME_TIMEOUT = 9
};

/* ---------------------------------------------------------------------- */
/* Memory: 2048 bytes of SRAM in all, so the big buffers share one place. */
/* ---------------------------------------------------------------------- */

static union {
    uint8_t samples[SAMPLE_BUF_BYTES]; /* SAMPLE: the captured samples */
    struct {                           /* BRIDGE: two ring buffers */
        uint8_t tx[BRIDGE_QUEUE];
        uint8_t rx[BRIDGE_QUEUE];
    } bridge;
} buf;

static uint8_t payload[MAX_CMD_PAYLOAD]; /* the payload of the command being received */

/* ---------------------------------------------------------------------- */
/* Small helpers: little-endian numbers in a byte array                   */
/* ---------------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | ((uint16_t)p[1] << 8)); }

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

/* ---------------------------------------------------------------------- */
/* The on-board LED (D13 = PB5)                                            */
/* ---------------------------------------------------------------------- */

static void led(uint8_t on)
{
    if (on)
        PORTB |= (1 << PB5);
    else
        PORTB &= (uint8_t) ~(1 << PB5);
}

/* ---------------------------------------------------------------------- */
/* The wire output (D7 = PD7): a pin driven high (5 V) or low (0 V)        */
/* ---------------------------------------------------------------------- */

/* Writing a 1 to a bit of PORTD drives that pin to 5 V, a 0 drives it to
 * 0 V (the pin is an output because its DDRD bit is 1, see setup()). */
/* always_inline: -Os would otherwise make these calls, adding 8 cycles to every edge. */
#define INLINE static inline __attribute__((always_inline))

INLINE void wire_write(uint8_t level)
{
    if (level)
        PORTD |= (1 << PD7);
    else
        PORTD &= (uint8_t) ~(1 << PD7);
}

/* Reading PINB gives the logic level on each port B pin: bit 0 is D8. */
INLINE uint8_t wire_read(void) { return PINB & (1 << PINB0); }

/* ---------------------------------------------------------------------- */
/* USB serial to the host: USART0 at 500000 baud, 8 data bits, no parity  */
/* ---------------------------------------------------------------------- */

/* Bytes from the host arrive in an interrupt and wait in a ring buffer until
 * the main loop reads them. The host waits for each reply before it sends the
 * next command (stop-and-wait), but in bridge mode the main loop may be busy
 * sending received bytes (BRIDGE_RECV) while a BRIDGE_DATA frame of up to 71
 * bytes arrives: with 64 bytes, a host link at 1 000 000 baud lost some of them
 * (the frame then timed out), so the ring holds 127. */
#define UART_RING 128U /* a whole BRIDGE_DATA frame (71 bytes) fits while the main loop is busy */
static volatile uint8_t uart_ring[UART_RING];
static volatile uint8_t uart_head, uart_tail;

ISR(USART_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((uart_head + 1) & (UART_RING - 1));
    if (next != uart_tail) { /* when full, the byte is lost (its frame then times out) */
        uart_ring[uart_head] = c;
        uart_head = next;
    }
}

static uint8_t uart_available(void) { return uart_head != uart_tail; }

static uint8_t uart_get(void)
{
    uint8_t c = uart_ring[uart_tail];
    uart_tail = (uint8_t)((uart_tail + 1) & (UART_RING - 1));
    return c;
}

static void uart_init(void)
{
    /* Datasheet 20.3.1: in double-speed mode (U2X0 = 1),
     * baud = F_CPU / (8 * (UBRR0 + 1)), so UBRR0 = 16 MHz / (8 * 500000) - 1 = 3,
     * exactly 500000 baud (0 % error; 115200 would be 2.1 % off). */
    UCSR0A = (1 << U2X0);
    UBRR0H = 0;
    UBRR0L = (uint8_t)(F_CPU / (8UL * HOST_BAUD) - 1); /* written last: it sets the rate */
    UCSR0C = (1 << UCSZ01) | (1 << UCSZ00);             /* 8 data bits, 1 stop bit, no parity */
    UCSR0B = (1 << RXEN0) | (1 << TXEN0) | (1 << RXCIE0);
}

static void uart_put(uint8_t c)
{
    while (!(UCSR0A & (1 << UDRE0))) {
        /* wait until the transmit register is free */
    }
    UDR0 = c;
}

/* ---------------------------------------------------------------------- */
/* Frames to the host: A5 type seq len_lo len_hi payload... crc_lo crc_hi */
/* ---------------------------------------------------------------------- */

/* CRC-16/CCITT-FALSE (polynomial 0x1021, start 0xFFFF) over type, seq, length
 * and payload. avr-libc's _crc_xmodem_update is that polynomial, unreflected. */
static uint16_t out_crc;

static void out_byte(uint8_t c)
{
    out_crc = _crc_xmodem_update(out_crc, c);
    uart_put(c);
}

static void frame_begin(uint8_t type, uint8_t seq, uint16_t len)
{
    uart_put(SYNC);
    out_crc = 0xFFFF;
    out_byte(type);
    out_byte(seq);
    out_byte((uint8_t)len);
    out_byte((uint8_t)(len >> 8));
}

static void frame_bytes(const uint8_t *p, uint16_t n)
{
    while (n--)
        out_byte(*p++);
}

static void frame_end(void)
{
    uint16_t crc = out_crc;
    uart_put((uint8_t)crc);
    uart_put((uint8_t)(crc >> 8));
}

static void send_frame(uint8_t type, uint8_t seq, const uint8_t *p, uint16_t n)
{
    frame_begin(type, seq, n);
    frame_bytes(p, n);
    frame_end();
}

/* The text of each error, stored in flash (PROGMEM) rather than in SRAM. */
static const char msg_crc[] PROGMEM = "bad CRC";
static const char msg_too_long[] PROGMEM = "frame too long";
static const char msg_unknown[] PROGMEM = "unknown command";
static const char msg_payload[] PROGMEM = "bad payload length";
static const char msg_range[] PROGMEM = "value out of range";
static const char msg_trigger[] PROGMEM = "trigger timeout";
static const char msg_busy[] PROGMEM = "busy";
static const char msg_state[] PROGMEM = "not in bridge mode";
static const char msg_frame_timeout[] PROGMEM = "incomplete frame";
static const char *const messages[] PROGMEM = {
    msg_crc, msg_too_long, msg_unknown, msg_payload, msg_range,
    msg_trigger, msg_busy, msg_state, msg_frame_timeout,
};

/* ERROR payload: code, field (which parameter, 0xFF if none), the command's type, text */
static void send_error(uint8_t seq, uint8_t code, uint8_t field, uint8_t cmd)
{
    const char *text = (const char *)pgm_read_word(&messages[code - 1]);
    uint8_t n = (uint8_t)strlen_P(text);
    uint8_t head[3] = {code, field, cmd};
    frame_begin(REP_ERROR, seq, (uint16_t)(3 + n));
    frame_bytes(head, 3);
    for (uint8_t i = 0; i < n; i++)
        out_byte(pgm_read_byte(text + i));
    frame_end();
}

/* ---------------------------------------------------------------------- */
/* A millisecond clock: Timer0 interrupts 1000 times a second              */
/* ---------------------------------------------------------------------- */

static volatile uint16_t ms_now;

ISR(TIMER0_COMPA_vect) { ms_now++; }

static uint16_t millis16(void)
{
    uint8_t s = SREG;
    cli(); /* a 16-bit read must not be split by the interrupt */
    uint16_t t = ms_now;
    SREG = s;
    return t;
}

static void timer0_init(void)
{
    /* CTC mode: count 0..249 with the clock divided by 64: 16 MHz / 64 / 250 = 1 kHz. */
    TCCR0A = (1 << WGM01);
    TCCR0B = (1 << CS01) | (1 << CS00);
    OCR0A = 249;
    TIMSK0 = (1 << OCIE0A);
}

/* The millisecond interrupt is switched off while bits are timed, so that it
 * cannot delay an edge or a sample by the few microseconds it takes. */
static void quiet_begin(void) { TIMSK0 = 0; }
static void quiet_end(void) { TIMSK0 = (1 << OCIE0A); }

/* ---------------------------------------------------------------------- */
/* Timer1: the precise clock for bits and samples                          */
/* ---------------------------------------------------------------------- */

/* Timer1 counts CPU clock cycles (divided by a prescaler of 1, 8, 64, 256 or
 * 1024) from 0 up to OCR1A, then starts again at 0 and sets the flag OCF1A
 * ("CTC" mode, datasheet 16.9.2). One count to OCR1A + 1 is one tick, so
 * ticks come exactly every prescaler * (OCR1A + 1) CPU cycles: at 16 MHz,
 * 1000 Hz is OCR1A = 15999 with a prescaler of 1. The tick rate is exact when
 * 16 MHz divides evenly, and otherwise the nearest rate the timer can make.
 * Returns the length of one tick in CPU cycles (reported to the host). */
static const uint16_t prescalers[5] PROGMEM = {1, 8, 64, 256, 1024};

static uint8_t timer1_cs; /* the CS1x bits that start the timer with the chosen prescaler */

static uint32_t timer1_setup(uint32_t hz)
{
    uint8_t i;
    uint32_t ticks = 0;
    uint16_t pre = 1;
    for (i = 0; i < 5; i++) {
        pre = pgm_read_word(&prescalers[i]);
        ticks = (F_CPU / pre + hz / 2) / hz; /* rounded to the nearest whole count */
        if (ticks <= 65536UL)
            break;
    }
    TCCR1B = 0; /* stopped while we set it up */
    TCCR1A = 0;
    TCNT1 = 0;
    OCR1A = (uint16_t)(ticks - 1);
    TIFR1 = (1 << OCF1A); /* writing a 1 clears the flag */
    timer1_cs = (uint8_t)(i + 1);
    return ticks * pre;
}

static void timer1_start(void) { TCCR1B = (1 << WGM12) | timer1_cs; }
static void timer1_stop(void) { TCCR1B = 0; }

/* Wait for the next tick: the flag OCF1A goes up when the timer wraps. */
INLINE void tick_wait(void)
{
    while (!(TIFR1 & (1 << OCF1A))) {
    }
    TIFR1 = (1 << OCF1A);
}

/* ---------------------------------------------------------------------- */
/* HELLO: the banner (sent at start-up, and again on request)              */
/* ---------------------------------------------------------------------- */

static void send_banner(uint8_t seq)
{
    static const char name[] PROGMEM = "labkit-hw";
    uint8_t b[15];
    b[0] = PROTO_MAJOR;
    b[1] = PROTO_MINOR;
    b[2] = FW_MAJOR;
    b[3] = FW_MINOR;
    b[4] = FW_PATCH;
    put32(b + 5, F_CPU);
    put16(b + 9, TX_MAX_BITS);
    put16(b + 11, DIGITAL_MAX_COUNT);
    put16(b + 13, ANALOG_MAX_COUNT);
    frame_begin(REP_BANNER, seq, (uint16_t)(sizeof b + sizeof name - 1));
    frame_bytes(b, sizeof b);
    for (uint8_t i = 0; i < sizeof name - 1; i++)
        out_byte(pgm_read_byte(name + i));
    frame_end();
}

/* ---------------------------------------------------------------------- */
/* TRANSMIT: put bits on the wire with a line code                         */
/* ---------------------------------------------------------------------- */

enum { CODE_NRZL = 0, CODE_NRZI = 1, CODE_MANCHESTER = 2 };

static void cmd_transmit(uint8_t seq, uint16_t len)
{
    if (len < 8) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_TRANSMIT);
        return;
    }
    uint8_t code = payload[0];
    uint8_t idle = payload[1];
    uint32_t rate = get32(payload + 2);
    uint16_t nbits = get16(payload + 6);
    const uint8_t *bits = payload + 8;
    if (code > CODE_MANCHESTER) {
        send_error(seq, E_RANGE, 0, CMD_TRANSMIT);
        return;
    }
    if (idle > 1) {
        send_error(seq, E_RANGE, 1, CMD_TRANSMIT);
        return;
    }
    if (rate < TX_MIN_RATE || rate > TX_MAX_RATE) {
        send_error(seq, E_RANGE, 2, CMD_TRANSMIT);
        return;
    }
    if (nbits < 1 || nbits > TX_MAX_BITS) {
        send_error(seq, E_RANGE, 3, CMD_TRANSMIT);
        return;
    }
    if (len != 8 + (nbits + 7) / 8) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_TRANSMIT);
        return;
    }

    /* Every bit is two ticks (two half-bits): Manchester changes level in the
     * middle of a bit, NRZ simply keeps its level for both halves. */
    uint32_t tick_cycles = timer1_setup(2 * rate);
    uint8_t state = idle; /* NRZ-I: the level before the first bit */
    uint16_t halves = (uint16_t)(2 * nbits);
    led(1);
    quiet_begin();
    wire_write(idle);
    timer1_start();
    const uint8_t *bp = bits; /* the byte of the current bit ... */
    uint8_t mask = 0x80;      /* ... and the bit in it: most significant first */
    for (uint16_t h = 0; h < halves; h++) {
        /* Work out the next level first, then wait for the tick and write it at
         * once: the edge then comes a fixed few cycles after the tick. (A running
         * mask, not a shift by a variable amount: at 100 kbit/s a half-bit is 80
         * cycles.) */
        uint8_t bit = (*bp & mask) ? 1 : 0;
        uint8_t second_half = h & 1;
        if (second_half) {
            mask >>= 1;
            if (!mask) {
                mask = 0x80;
                bp++;
            }
        }
        uint8_t level;
        if (code == CODE_NRZL) {
            level = bit;
        } else if (code == CODE_NRZI) {
            if (!second_half && bit)
                state ^= 1; /* a 1 is a change of level at the start of the bit */
            level = state;
        } else {
            /* Manchester, IEEE 802.3: a 0 is high then low, a 1 is low then high */
            level = second_half ? bit : (uint8_t)!bit;
        }
        tick_wait();
        wire_write(level);
    }
    tick_wait(); /* the last half-bit lasts its full tick */
    wire_write(idle);
    timer1_stop();
    quiet_end();
    led(0);

    uint8_t r[6];
    put16(r, nbits);
    put32(r + 2, tick_cycles);
    send_frame(REP_TX_DONE, seq, r, sizeof r);
}

/* ---------------------------------------------------------------------- */
/* SAMPLE: read the wire at a steady rate                                  */
/* ---------------------------------------------------------------------- */

enum { MODE_DIGITAL = 0, MODE_ANALOG = 1 };
enum { TRIG_NOW = 0, TRIG_ANY = 1, TRIG_RISING = 2, TRIG_FALLING = 3 };

static void adc_init(void)
{
    /* Datasheet 24.9: reference AVcc (5 V), result left-adjusted (ADLAR) so
     * that ADCH holds the top 8 of the 10 bits, channel 0 (A0). The ADC clock
     * is 16 MHz / 16 = 1 MHz, so a conversion (13 ADC clocks) takes 13 us;
     * the datasheet wants 50-200 kHz for the full 10 bits, and at 1 MHz the
     * two lowest bits are noise anyway, which is why we keep 8. */
    ADMUX = (1 << REFS0) | (1 << ADLAR);
    ADCSRA = (1 << ADEN) | (1 << ADPS2);
    DIDR0 = (1 << ADC0D); /* A0 is analog only: switch off its digital input */
    ADCSRA |= (1 << ADSC); /* the first conversion takes longer: do it now */
    while (ADCSRA & (1 << ADSC)) {
    }
}

static void cmd_sample(uint8_t seq, uint16_t len)
{
    if (len != 10) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_SAMPLE);
        return;
    }
    uint8_t mode = payload[0];
    uint8_t trig = payload[1];
    uint32_t rate = get32(payload + 2);
    uint16_t count = get16(payload + 6);
    uint16_t timeout_ms = get16(payload + 8);
    if (mode > MODE_ANALOG) {
        send_error(seq, E_RANGE, 0, CMD_SAMPLE);
        return;
    }
    if (trig > TRIG_FALLING) {
        send_error(seq, E_RANGE, 1, CMD_SAMPLE);
        return;
    }
    uint32_t max_rate = mode == MODE_ANALOG ? ANALOG_MAX_RATE : DIGITAL_MAX_RATE;
    if (rate < SAMPLE_MIN_RATE || rate > max_rate) {
        send_error(seq, E_RANGE, 2, CMD_SAMPLE);
        return;
    }
    uint16_t max_count = mode == MODE_ANALOG ? ANALOG_MAX_COUNT : DIGITAL_MAX_COUNT;
    if (count < 1 || count > max_count) {
        send_error(seq, E_RANGE, 3, CMD_SAMPLE);
        return;
    }
    if (trig != TRIG_NOW && (timeout_ms < 1 || timeout_ms > MAX_TIMEOUT_MS)) {
        send_error(seq, E_RANGE, 4, CMD_SAMPLE);
        return;
    }

    uint32_t tick_cycles = timer1_setup(rate);
    uint8_t r[6];
    put32(r, tick_cycles);
    put16(r + 4, count);
    send_frame(REP_ARMED, seq, r, sizeof r); /* the host may now start the transmitter */

    for (uint16_t i = 0; i < SAMPLE_BUF_BYTES; i++)
        buf.samples[i] = 0;
    /* Ticks to wait for the trigger: timeout_ms milliseconds at `rate` ticks a
     * second, computed in two parts so that 60000 ms * 200000 Hz cannot overflow. */
    uint32_t wait_left = (uint32_t)timeout_ms * (rate / 1000UL) +
                         (uint32_t)timeout_ms * (rate % 1000UL) / 1000UL + 1;
    uint8_t triggered = trig == TRIG_NOW;
    uint8_t prev = wire_read();
    uint16_t n = 0;          /* samples stored so far */
    uint8_t *out = buf.samples;
    uint8_t mask = 1;        /* digital: the bit of *out that sample n goes to */
    uint8_t converting = 0;  /* analog: a conversion was started at the previous tick */
    led(1);
    quiet_begin();
    timer1_start();
    /* At 200000 samples/s a tick is 80 CPU cycles: everything in this loop must be
     * short (no multiplication, no shifting by a variable amount). */
    for (;;) {
        tick_wait();
        uint8_t in = wire_read();
        if (!triggered) {
            if ((trig == TRIG_ANY && in != prev) || (trig == TRIG_RISING && in && !prev) ||
                (trig == TRIG_FALLING && !in && prev)) {
                triggered = 1; /* this tick is sample 0 */
            } else {
                prev = in;
                if (--wait_left == 0)
                    break;
                continue;
            }
        }
        if (mode == MODE_DIGITAL) {
            /* sample n is bit n % 8 (least significant first) of byte n / 8 */
            if (in)
                *out |= mask;
            mask <<= 1;
            if (mask == 0) {
                mask = 1;
                out++;
            }
            if (++n == count)
                break;
        } else {
            /* The conversion started at the previous tick has finished (13 us):
             * store it, then start the next one, so every sample is taken on a tick. */
            if (converting) {
                *out++ = ADCH;
                if (++n == count)
                    break;
            }
            ADCSRA |= (1 << ADSC);
            converting = 1;
        }
    }
    timer1_stop();
    quiet_end();
    led(0);

    if (!triggered) {
        send_error(seq, E_TRIGGER_TIMEOUT, 0xFF, CMD_SAMPLE);
        return;
    }
    uint16_t nbytes = mode == MODE_DIGITAL ? (uint16_t)((count + 7) / 8) : count;
    uint8_t h[8];
    h[0] = mode;
    h[1] = trig;
    put32(h + 2, tick_cycles);
    put16(h + 6, count);
    frame_begin(REP_SAMPLES, seq, (uint16_t)(sizeof h + nbytes));
    frame_bytes(h, sizeof h);
    frame_bytes(buf.samples, nbytes);
    frame_end();
}

/* ---------------------------------------------------------------------- */
/* RECEIVE: decode a frame from the times of its edges (input capture)     */
/* ---------------------------------------------------------------------- */

/* Two steps. First the edges: Timer1 runs free, and each level change on D8
 * (ICP1, datasheet 16.6) copies the count into ICR1 and sets ICF1 whatever the
 * program is doing, so an edge's time is exact to one count. ICES1 says which
 * edge to catch next: the loop reads the pin after each capture and waits for
 * the opposite one (and if the pin changed while ICES1 was being set, which the
 * capture unit then misses, it dates that change itself). The loop stores the
 * time since the previous edge (in counts of 2 when a unit is over 100 counts; one byte,
 * or 255 and two bytes) in the sample buffer: about 30 cycles an edge, so edges
 * 2 us apart are caught. It stops when the line has been quiet for 64 units (a
 * unit is a bit for NRZ, a half-bit for Manchester) or the buffer is full.
 *
 * Then the bits. Near the threshold the noise makes a burst of crossings: an
 * edge counts when the line still shows its level a quarter unit later, and is
 * dated by its first crossing. The wire's RC filter delays each edge by how far
 * the capacitor got: a level held long is crossed late, a short one early. So
 * the decoder learns, as it goes, how much later than a run of 1 unit an edge
 * that ends a run of 2, 3 or more units comes, and decides how many units a
 * run lasted by the nearest of those expected times. The reference (the last
 * unit boundary, plus the delay of a run of 1) follows each edge by a quarter
 * of its error, which tracks a clock difference between the boards. Nothing
 * depends on the bit rate or the wire: the delays are measured, not given.
 * Manchester: a run of two half-bits always ends in the middle of a bit, which
 * puts the decoder back in step if it slipped.
 *
 * The bits start at the frame's first edge (its preamble tells the host where
 * the data begins: lab.py); after the last edge the last level repeats. */

#define RX_CLASSES 4

/* The next edge in the buffer: its time (counts since the first edge). */
static const uint8_t *edge_next(const uint8_t *p, uint16_t *t)
{
    uint8_t d = *p++;
    if (d == 255) {
        *t = (uint16_t)(*t + (uint16_t)(p[0] | (p[1] << 8)));
        return p + 2;
    }
    *t = (uint16_t)(*t + d);
    return p;
}

static void cmd_receive(uint8_t seq, uint16_t len)
{
    if (len != 10) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_RECEIVE);
        return;
    }
    uint8_t code = payload[0];
    uint8_t idle = payload[1];
    uint32_t rate = get32(payload + 2);
    uint16_t nbits = get16(payload + 6);
    uint16_t timeout_ms = get16(payload + 8);
    if (code > CODE_MANCHESTER) {
        send_error(seq, E_RANGE, 0, CMD_RECEIVE);
        return;
    }
    if (idle > 1) {
        send_error(seq, E_RANGE, 1, CMD_RECEIVE);
        return;
    }
    if (rate < RX_MIN_RATE || rate > TX_MAX_RATE) {
        send_error(seq, E_RANGE, 2, CMD_RECEIVE);
        return;
    }
    if (nbits < 1 || nbits > TX_MAX_BITS) {
        send_error(seq, E_RANGE, 3, CMD_RECEIVE);
        return;
    }
    if (timeout_ms < 1 || timeout_ms > MAX_TIMEOUT_MS) {
        send_error(seq, E_RANGE, 4, CMD_RECEIVE);
        return;
    }
    uint8_t manchester = code == CODE_MANCHESTER;
    /* One unit in CPU cycles, then in timer counts: the smallest prescaler (1, 8, 64)
     * that keeps a unit at most 200 counts (250 at 1000 bit/s), so that 64 units fit the
     * 16-bit timer. */
    uint32_t unit_cycles = (F_CPU + rate / 2) / rate;
    if (manchester)
        unit_cycles /= 2;
    uint8_t cs = 1;
    uint16_t pre = 1;
    while (unit_cycles / pre > 200U && cs < 3) {
        cs++;
        pre = cs == 2 ? 8 : 64;
    }
    int16_t unit = (int16_t)(unit_cycles / pre);
    /* The buffer keeps times in counts of 2 when a unit is over 100 counts, so that a
     * run of 2 units (Manchester's longest) still takes one byte. */
    uint8_t shift = unit > 100 ? 1 : 0;
    uint8_t r[6];
    put32(r, pre);
    put16(r + 4, nbits);
    send_frame(REP_ARMED, seq, r, sizeof r); /* the host may now start the transmitter */

    /* 1. The edges. The first one, away from idle, within timeout_ms (Timer0's
     * millisecond interrupt still runs until it comes). */
    TCCR1A = 0;
    TCCR1B = (uint8_t)((idle ? 0 : (1 << ICES1)) | cs);
    TIFR1 = (1 << ICF1);
    led(1);
    uint16_t start = millis16();
    uint16_t last;
    for (;;) {
        if (TIFR1 & (1 << ICF1)) {
            last = ICR1;
            uint8_t in = wire_read() ? 1 : 0;
            TCCR1B = (uint8_t)((in ? 0 : (1 << ICES1)) | cs);
            TIFR1 = (1 << ICF1);
            if (in != idle)
                break;
        }
        if ((uint16_t)(millis16() - start) >= timeout_ms) {
            TCCR1B = 0;
            led(0);
            send_error(seq, E_TRIGGER_TIMEOUT, 0xFF, CMD_RECEIVE);
            return;
        }
    }
    quiet_begin();
    uint8_t level = (uint8_t)!idle;
    uint8_t *p = buf.samples;
    uint8_t *full = buf.samples + SAMPLE_BUF_BYTES - 3;
    /* 64 units: random data has a run of 16 equal bits about every 2^15 bits, which a
     * quiet limit of 16 units took for the end of the frame. */
    uint16_t quiet = (uint16_t)(RX_QUIET_UNITS * (uint16_t)unit);
    while (p < full) {
        uint16_t t;
        if (TIFR1 & (1 << ICF1))
            t = ICR1;
        else if ((wire_read() ? 1 : 0) != level)
            t = TCNT1; /* it changed while ICES1 was being set: dated a few cycles late */
        else if ((uint16_t)(TCNT1 - last) > quiet)
            break;
        else
            continue;
        {
            uint8_t in = wire_read() ? 1 : 0;
            TCCR1B = (uint8_t)((in ? 0 : (1 << ICES1)) | cs);
            TIFR1 = (1 << ICF1);
            if (in == level)
                continue; /* the line went back before the loop looked: no edge */
            level = in;
            uint16_t d = (uint16_t)((uint16_t)(t - last) >> shift);
            last = (uint16_t)(last + (d << shift)); /* the remainder counts in the next one */
            if (d < 255) {
                *p++ = (uint8_t)d;
            } else {
                *p++ = 255;
                *p++ = (uint8_t)d;
                *p++ = (uint8_t)(d >> 8);
            }
        }
    }
    TCCR1B = 0;
    quiet_end();
    led(0);

    /* 2. The bits. */
    const uint8_t *q = buf.samples, *stop = p;
    for (uint16_t i = 0; i < TX_MAX_BITS / 8; i++)
        payload[i] = 0;
    int16_t delay[RX_CLASSES] = {0, 0, 0, 0}; /* learned: edge delay by run length */
    uint16_t got = 0;       /* bits decoded */
    uint8_t *out = payload; /* where bit `got` goes ... */
    uint8_t mask = 0x80;    /* ... most significant first, as TRANSMIT reads them */
    uint16_t edges = 1;     /* edges used */
    uint16_t ref = 0;       /* the last unit boundary (plus the delay of a run of 1) */
    uint16_t t = 0;         /* the time of the edge at q (the first edge is 0) */
    uint8_t mid = 0;        /* Manchester: the last boundary was the middle of a bit */
    uint8_t max_run = manchester ? 2 : 255;
    unit = (int16_t)(unit >> shift); /* from here on, in the buffer's counts */
    int16_t confirm = (int16_t)(unit / 4);
    level = (uint8_t)!idle;  /* the first edge: NRZ, the start of bit 0; Manchester, of a bit */
    uint8_t line = level;    /* the level after the edge at q */
    if (code == CODE_NRZI) { /* the frame's first 1: a change of level */
        *out |= mask;
        mask >>= 1;
        got = 1;
    }
    while (got < nbits && q < stop) {
        q = edge_next(q, &t);
        line = (uint8_t)!line;
        if (line == level)
            continue;
        /* the line in the next quarter unit: a burst of crossings is one edge */
        uint16_t at = t;
        while (q < stop) {
            uint16_t t2 = t;
            const uint8_t *q2 = edge_next(q, &t2);
            if ((int16_t)(t2 - at) > confirm)
                break;
            q = q2;
            t = t2;
            line = (uint8_t)!line;
        }
        if (line == level)
            continue; /* it went back: a glitch */
        int16_t e = (int16_t)(at - ref);
        /* How many units since the last boundary: the nearest expected edge time. */
        uint8_t n = 1;
        int16_t span = unit; /* n units */
        int16_t expect = unit;
        while (n < max_run) {
            int16_t next = (int16_t)(span + unit + delay[n < RX_CLASSES ? n : RX_CLASSES - 1]);
            int16_t a = e - expect, b = e - next;
            if ((a < 0 ? -a : a) <= (b < 0 ? -b : b))
                break;
            n++;
            span = (int16_t)(span + unit);
            expect = next;
        }
        int16_t err = e - expect;
        uint8_t k = n < RX_CLASSES ? n - 1 : RX_CLASSES - 1;
        if (k)
            delay[k] = (int16_t)(delay[k] + err / 8);
        ref = (uint16_t)(ref + (uint16_t)span + (uint16_t)(err / 4));
        edges++;
        /* The run of n units at `level` is over: its bits. */
        uint8_t nb, bit;
        if (manchester) {
            mid = n == 2 ? 1 : !mid; /* two half-bits of one level go from a middle to the next */
            nb = mid;                /* a bit is its second half: the level after the middle */
            bit = line;
        } else {
            nb = n;
            bit = level; /* NRZ-I: n - 1 zeros after the run's 1, then this edge's 1 */
        }
        for (uint8_t i = 0; i < nb && got < nbits; i++) {
            if (code == CODE_NRZI ? i == nb - 1 : bit)
                *out |= mask;
            mask >>= 1;
            if (!mask) {
                mask = 0x80;
                out++;
            }
            got++;
        }
        level = line;
    }
    uint16_t decoded = got;
    /* The last run lasts to the end of the frame (no edge closes it): NRZ-I's zeros
     * are already there, NRZ-L and Manchester repeat the last level. */
    if (code != CODE_NRZI && level) {
        for (; got < nbits; got++) {
            *out |= mask;
            mask >>= 1;
            if (!mask) {
                mask = 0x80;
                out++;
            }
        }
    }
    uint8_t h[6];
    h[0] = code;
    h[1] = 0;
    put16(h + 2, edges);
    put16(h + 4, decoded);
    frame_begin(REP_RECEIVED, seq, (uint16_t)(sizeof h + (nbits + 7) / 8));
    frame_bytes(h, sizeof h);
    frame_bytes(payload, (uint16_t)((nbits + 7) / 8));
    frame_end();
}

/* ---------------------------------------------------------------------- */
/* SCOPE: ADC samples at exact delays after an edge (equivalent time)      */
/* ---------------------------------------------------------------------- */

/* An ADC conversion takes 13 ADC clocks (13 us at 1 MHz), so SAMPLE reads A0
 * at most 40 000 times a second: too slow to draw an edge of the wire, whose
 * tau is 22 us. A sampling oscilloscope gets around that by repetition: the
 * same waveform is sent again and again, and each time the samples are taken a
 * little later after the trigger. SCOPE takes its samples at `delay` cycles
 * after the trigger edge on D8 and then every `period` cycles; the host repeats
 * the waveform with the delay shifted by a fraction of the period and
 * interleaves the results (labkit/hw/scope.py).
 *
 * Timing: Timer1 runs free at the CPU clock. The trigger edge is the input
 * capture (ICR1 holds the cycle of the edge, whatever the loop was doing), and
 * each conversion starts when Timer1 reaches the compare value OCR1B = ICR1 +
 * delay + k * period (16-bit arithmetic: the wrap-around is harmless). The ADC
 * starts a conversion at its next clock edge and holds A0 1.5 ADC clocks later:
 * sample k is A0 at delay + k * period cycles after the edge, plus 1.5 to 2.5 us. */
static void cmd_scope(uint8_t seq, uint16_t len)
{
    if (len != 9) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_SCOPE);
        return;
    }
    uint8_t trig = payload[0];
    uint16_t delay = get16(payload + 1);
    uint16_t period = get16(payload + 3);
    uint16_t count = get16(payload + 5);
    uint16_t timeout_ms = get16(payload + 7);
    if (trig < TRIG_ANY || trig > TRIG_FALLING) {
        send_error(seq, E_RANGE, 0, CMD_SCOPE);
        return;
    }
    if (delay < SCOPE_MIN_DELAY) {
        send_error(seq, E_RANGE, 1, CMD_SCOPE);
        return;
    }
    if (period < SCOPE_MIN_PERIOD) {
        send_error(seq, E_RANGE, 2, CMD_SCOPE);
        return;
    }
    if (count < 1 || count > ANALOG_MAX_COUNT) {
        send_error(seq, E_RANGE, 3, CMD_SCOPE);
        return;
    }
    if (timeout_ms < 1 || timeout_ms > MAX_TIMEOUT_MS) {
        send_error(seq, E_RANGE, 4, CMD_SCOPE);
        return;
    }
    uint8_t r[6];
    put32(r, period);
    put16(r + 4, count);
    send_frame(REP_ARMED, seq, r, sizeof r); /* the host may now start the transmitter */

    /* The trigger: the first edge of D8 in the asked direction (for "any", away from
     * the level the line has now), within timeout_ms. */
    uint8_t rising = trig == TRIG_RISING || (trig == TRIG_ANY && !wire_read());
    TCCR1A = 0;
    TCCR1B = (uint8_t)((rising ? (1 << ICES1) : 0) | (1 << CS10));
    TIFR1 = (1 << ICF1);
    led(1);
    uint16_t start = millis16();
    while (!(TIFR1 & (1 << ICF1))) {
        if ((uint16_t)(millis16() - start) >= timeout_ms) {
            TCCR1B = 0;
            led(0);
            send_error(seq, E_TRIGGER_TIMEOUT, 0xFF, CMD_SCOPE);
            return;
        }
    }
    uint16_t at = (uint16_t)(ICR1 + delay);
    quiet_begin();
    uint8_t *out = buf.samples;
    for (uint16_t n = 0; n < count; n++) {
        OCR1B = at;
        TIFR1 = (1 << OCF1B);
        while (!(TIFR1 & (1 << OCF1B))) {
        }
        ADCSRA |= (1 << ADSC);
        while (ADCSRA & (1 << ADSC)) {
        }
        *out++ = ADCH;
        at = (uint16_t)(at + period);
    }
    TCCR1B = 0;
    quiet_end();
    led(0);
    uint8_t h[8];
    h[0] = MODE_ANALOG;
    h[1] = trig;
    put32(h + 2, period);
    put16(h + 6, count);
    frame_begin(REP_SAMPLES, seq, (uint16_t)(sizeof h + count));
    frame_bytes(h, sizeof h);
    frame_bytes(buf.samples, count);
    frame_end();
}

/* ---------------------------------------------------------------------- */
/* BRIDGE: bytes over the wire as asynchronous serial frames               */
/* ---------------------------------------------------------------------- */

/* The line rests high. A byte is a start bit (low), its 8 bits least
 * significant first, and a stop bit (high): the same framing a UART uses.
 * Timer1 interrupts 4 times per bit; the transmitter changes the output every
 * 4th tick, the receiver watches for the falling edge of a start bit, then
 * reads each bit 2 ticks later (near its middle) and every 4 ticks after. */

static volatile uint8_t bridge_on;
static volatile uint8_t btx_head, btx_tail; /* host -> wire (8-bit indices: BRIDGE_QUEUE is 256) */
static volatile uint8_t brx_head, brx_tail; /* wire -> host */
static volatile uint16_t st_sent, st_received, st_framing, st_overrun;

static uint8_t tx_sub, tx_bit, tx_byte;     /* used in the interrupt only */
static uint8_t rx_state, rx_wait, rx_shift; /* rx_state: see RX_* */

/* Receiver states: 0 idle (line high), 1 start bit, 2..9 data bits, 10 stop bit, and
 * RX_WAIT_HIGH: the line is low when it should rest high (the other board is not in
 * bridge mode yet, or just left it); wait for it to go high before looking for a start bit. */
enum { RX_IDLE = 0, RX_START = 1, RX_STOP = 10, RX_WAIT_HIGH = 11 };

ISR(TIMER1_COMPA_vect)
{
    uint8_t in = wire_read();

    /* Transmitter: one bit every 4 ticks. */
    if (++tx_sub == 4) {
        tx_sub = 0;
        if (tx_bit == 0) {
            if (btx_tail != btx_head) {
                tx_byte = buf.bridge.tx[btx_tail++];
                wire_write(0); /* start bit */
                tx_bit = 1;
            }
        } else if (tx_bit <= 8) {
            wire_write(tx_byte & 1);
            tx_byte >>= 1;
            tx_bit++;
        } else {
            wire_write(1); /* stop bit */
            tx_bit = 0;
            st_sent++;
        }
    }

    /* Receiver */
    if (rx_state == RX_IDLE) {
        if (!in) { /* the line fell: a start bit begins */
            rx_state = RX_START;
            rx_wait = 2;
        }
    } else if (rx_state == RX_WAIT_HIGH) {
        if (in)
            rx_state = RX_IDLE;
    } else if (--rx_wait == 0) {
        rx_wait = 4;
        if (rx_state == RX_START) {
            rx_state = in ? RX_IDLE : 2; /* high again in the middle of the start bit: a glitch */
        } else if (rx_state < RX_STOP) {
            rx_shift = (uint8_t)((rx_shift >> 1) | (in ? 0x80 : 0));
            rx_state++;
        } else if (!in) {
            st_framing++; /* no stop bit: the byte is lost */
            rx_state = RX_WAIT_HIGH;
        } else {
            if ((uint8_t)(brx_head + 1) == brx_tail) {
                st_overrun++; /* the host is not keeping up: the byte is lost */
            } else {
                buf.bridge.rx[brx_head++] = rx_shift;
                st_received++;
            }
            rx_state = RX_IDLE;
        }
    }
}

static uint16_t bridge_free(void)
{
    return (uint16_t)(BRIDGE_QUEUE - 1 - (uint8_t)(btx_head - btx_tail));
}

static void cmd_bridge(uint8_t seq, uint16_t len)
{
    if (len != 4) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_BRIDGE);
        return;
    }
    uint32_t rate = get32(payload);
    if (rate < BRIDGE_MIN_RATE || rate > BRIDGE_MAX_RATE) {
        send_error(seq, E_RANGE, 0, CMD_BRIDGE);
        return;
    }
    uint32_t tick_cycles = timer1_setup(4 * rate);
    btx_head = btx_tail = brx_head = brx_tail = 0;
    st_sent = st_received = st_framing = st_overrun = 0;
    tx_sub = tx_bit = 0;
    rx_state = RX_WAIT_HIGH;
    wire_write(1); /* the line rests high */
    bridge_on = 1;
    TIMSK1 = (1 << OCIE1A);
    timer1_start();
    uint8_t r[4];
    put32(r, tick_cycles);
    send_frame(REP_BRIDGE_ON, seq, r, sizeof r);
}

static void cmd_bridge_data(uint8_t seq, uint16_t len)
{
    if (!bridge_on) {
        send_error(seq, E_STATE, 0xFF, CMD_BRIDGE_DATA);
        return;
    }
    if (len < 1 || len > BRIDGE_MAX_CHUNK) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_BRIDGE_DATA);
        return;
    }
    if (len > bridge_free()) {
        send_error(seq, E_BUSY, 0xFF, CMD_BRIDGE_DATA); /* nothing queued: try again later */
        return;
    }
    for (uint16_t i = 0; i < len; i++) {
        buf.bridge.tx[btx_head] = payload[i];
        btx_head++; /* one 8-bit store: the interrupt sees the byte only when it is complete */
    }
    uint8_t r[4];
    put16(r, (uint16_t)(uint8_t)(btx_head - btx_tail));
    put16(r + 2, bridge_free());
    send_frame(REP_BRIDGE_ACK, seq, r, sizeof r);
}

/* Send the bytes received from the wire to the host, at most 32 per frame. */
static void bridge_flush(void)
{
    uint8_t n = (uint8_t)(brx_head - brx_tail);
    if (n > BRIDGE_RECV_CHUNK)
        n = BRIDGE_RECV_CHUNK;
    frame_begin(REP_BRIDGE_RECV, 0, n);
    for (uint8_t i = 0; i < n; i++)
        out_byte(buf.bridge.rx[brx_tail++]);
    frame_end();
}

static void cmd_bridge_stop(uint8_t seq, uint16_t len)
{
    if (len != 0) {
        send_error(seq, E_PAYLOAD, 0xFF, CMD_BRIDGE_STOP);
        return;
    }
    if (!bridge_on) {
        send_error(seq, E_STATE, 0xFF, CMD_BRIDGE_STOP);
        return;
    }
    TIMSK1 = 0;
    timer1_stop();
    bridge_on = 0;
    while (brx_head != brx_tail)
        bridge_flush();
    uint8_t r[10];
    put16(r, st_sent);
    put16(r + 2, st_received);
    put16(r + 4, st_framing);
    put16(r + 6, st_overrun);
    put16(r + 8, (uint16_t)(uint8_t)(btx_head - btx_tail) + (tx_bit ? 1 : 0)); /* not sent */
    wire_write(0);
    send_frame(REP_BRIDGE_STATS, seq, r, sizeof r);
}

/* ---------------------------------------------------------------------- */
/* Receiving frames from the host                                          */
/* ---------------------------------------------------------------------- */

static void dispatch(uint8_t type, uint8_t seq, uint16_t len)
{
    if (bridge_on && (type == CMD_TRANSMIT || type == CMD_SAMPLE || type == CMD_RECEIVE ||
                      type == CMD_SCOPE || type == CMD_BRIDGE)) {
        send_error(seq, E_BUSY, 0xFF, type); /* the wire is in use: BRIDGE_STOP first */
        return;
    }
    switch (type) {
    case CMD_HELLO:
        if (len != 0)
            send_error(seq, E_PAYLOAD, 0xFF, type);
        else
            send_banner(seq);
        break;
    case CMD_PING:
        if (len > 64)
            send_error(seq, E_PAYLOAD, 0xFF, type);
        else
            send_frame(REP_PONG, seq, payload, len);
        break;
    case CMD_TRANSMIT:
        cmd_transmit(seq, len);
        break;
    case CMD_SAMPLE:
        cmd_sample(seq, len);
        break;
    case CMD_RECEIVE:
        cmd_receive(seq, len);
        break;
    case CMD_SCOPE:
        cmd_scope(seq, len);
        break;
    case CMD_BRIDGE:
        cmd_bridge(seq, len);
        break;
    case CMD_BRIDGE_DATA:
        cmd_bridge_data(seq, len);
        break;
    case CMD_BRIDGE_STOP:
        cmd_bridge_stop(seq, len);
        break;
    default:
        send_error(seq, E_UNKNOWN, 0xFF, type);
        break;
    }
}

enum { S_SYNC, S_TYPE, S_SEQ, S_LEN0, S_LEN1, S_PAYLOAD, S_CRC0, S_CRC1 };

static uint8_t rx_st = S_SYNC;
static uint8_t f_type, f_seq;
static uint16_t f_len, f_pos, f_crc, f_got_crc;
static uint16_t f_started; /* millis16() at the frame's first byte */

static void parse_byte(uint8_t c)
{
    switch (rx_st) {
    case S_SYNC:
        if (c == SYNC) { /* anything else between frames is ignored */
            rx_st = S_TYPE;
            f_crc = 0xFFFF;
            f_started = millis16();
        }
        return;
    case S_TYPE:
        f_type = c;
        rx_st = S_SEQ;
        break;
    case S_SEQ:
        f_seq = c;
        rx_st = S_LEN0;
        break;
    case S_LEN0:
        f_len = c;
        rx_st = S_LEN1;
        break;
    case S_LEN1:
        f_len |= (uint16_t)c << 8;
        f_pos = 0;
        if (f_len > MAX_CMD_PAYLOAD) {
            send_error(f_seq, E_TOO_LONG, 0xFF, f_type);
            rx_st = S_SYNC; /* hunt for the next A5 */
            return;
        }
        rx_st = f_len ? S_PAYLOAD : S_CRC0;
        break;
    case S_PAYLOAD:
        payload[f_pos++] = c;
        if (f_pos == f_len)
            rx_st = S_CRC0;
        break;
    case S_CRC0:
        f_got_crc = c;
        rx_st = S_CRC1;
        return;
    case S_CRC1:
        f_got_crc |= (uint16_t)c << 8;
        rx_st = S_SYNC;
        if (f_got_crc != f_crc)
            send_error(f_seq, E_CRC, 0xFF, f_type);
        else
            dispatch(f_type, f_seq, f_len);
        return;
    }
    f_crc = _crc_xmodem_update(f_crc, c);
}

/* ---------------------------------------------------------------------- */
/* Start-up and the main loop                                              */
/* ---------------------------------------------------------------------- */

static void setup(void)
{
    DDRD |= (1 << DDD7);    /* D7: output, the wire */
    PORTD &= (uint8_t) ~(1 << PD7); /* resting low */
    DDRB &= (uint8_t) ~(1 << DDB0); /* D8: input, no pull-up (the transmitter drives it) */
    PORTB &= (uint8_t) ~(1 << PB0);
    DDRB |= (1 << DDB5);    /* D13: the LED */
    uart_init();
    timer0_init();
    adc_init();
    sei();
}

int main(void)
{
    setup();
    /* The board has just been reset (often by the host opening the port: the
     * USB chip pulses the reset line). Say who we are; a host that opened the
     * port too late to see this asks again with HELLO. */
    send_banner(0);
    uint8_t seen = 0;
    uint16_t seen_at = 0;
    for (;;) {
        if (uart_available()) {
            parse_byte(uart_get());
        } else if (rx_st != S_SYNC && (uint16_t)(millis16() - f_started) > FRAME_TIMEOUT_MS) {
            /* Half a frame and then silence: drop it, say so, and listen again. */
            send_error(rx_st > S_SEQ ? f_seq : 0, E_FRAME_TIMEOUT, 0xFF,
                       rx_st > S_TYPE ? f_type : 0);
            rx_st = S_SYNC;
        }
        if (bridge_on) {
            uint8_t waiting = (uint8_t)(brx_head - brx_tail);
            if (waiting != seen) {
                seen = waiting;
                seen_at = millis16();
            }
            if (waiting >= BRIDGE_RECV_CHUNK ||
                (waiting && (uint16_t)(millis16() - seen_at) >= BRIDGE_FLUSH_MS)) {
                bridge_flush();
                seen = (uint8_t)(brx_head - brx_tail);
                seen_at = millis16();
            }
        }
    }
}
