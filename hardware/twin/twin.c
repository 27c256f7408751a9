/*
 * twin: two simulated ATmega328P boards running the labkit-hw firmware, joined
 * by the lab's two wires, each reachable by the host through a pseudo-terminal.
 *
 *   twin build/labkit_hw.elf [--rc-us 22] [--noise-mv 15] [--seed 1]
 *                            [--ppm0 5000] [--ppm1 -5000] [--delay-us 0]
 *                            [--hyst-mv 0] [--rout-ohm 0] [--control]
 *
 * prints "board0 /dev/pts/N" and "board1 /dev/pts/M" on stdout, then runs until
 * SIGTERM or SIGINT. The host opens those ptys like real boards (pyserial).
 *
 * --bootloader BOOT.hex puts a bootloader (an Intel HEX file, such as the Arduino
 * Uno's optiboot_atmega328.hex) into both boards' flash and starts them from its
 * first address, as the BOOTRST fuse does on an Uno; FIRMWARE may then be "none",
 * a blank flash, for the host to program through the bootloader (`labkit hw
 * flash`). A reset from the host (`reset N`) sets EXTRF in MCUSR, as a pulse on
 * the reset pin does, so that optiboot stays and listens; a watchdog reset (how
 * optiboot starts the program it wrote) keeps the board's clock running on.
 *
 * The wire: --rc-us is the RC time constant, --noise-mv the Gaussian noise (volts
 * RMS, in mV) that both the ADC and the digital input D8 see (a fresh value every
 * 0.5 us), --delay-us a propagation delay from the sender's pin to the wire,
 * --ppm0/--ppm1 each board's clock error in parts per million (default +-0.5 %, the
 * spread of the Uno's ceramic resonators), --seed the noise. --hyst-mv is the
 * hysteresis of the receiver's input (a Schmitt trigger, as on the ATmega's pins): D8
 * goes high above 2.5 V + hyst/2 and low below 2.5 V - hyst/2; the datasheet's VIL =
 * 0.3 VCC and VIH = 0.6 VCC bound those thresholds to 1.5 V and 3.0 V, so hyst is at
 * most 1000 mV here. --rout-ohm is the sender's output resistance, in series with the
 * wire's 10 kOhm (an ATmega pin: about 25 Ohm); it lengthens tau by rout / 10 kOhm.
 *
 * With --control the twin also reads commands, one a line, on stdin:
 *   reset N   pulse board N's reset line (what DTR does on a real Uno when the
 *             host opens the port): the firmware restarts and sends its banner
 *   time      answer "time SECONDS" on stdout: the simulated time so far
 * and stops when stdin closes, so a twin never outlives the program that
 * started it. --clock-file PATH keeps the simulated time (a double, seconds) in
 * the first 8 bytes of PATH, mapped into memory, for the host to read at will:
 * host timeouts then count simulated time, whatever the speed of the computer.
 *
 * Both cores run in lock-step on a common clock (each core's 16 MHz made
 * ppm fast or slow). Board i's D7 (PD7) drives wire i; the other board reads
 * it on D8 (PB0), after the RC filter (time constant rc-us) has crossed 2.5 V,
 * and on A0 through the ADC, which samples the RC voltage plus Gaussian noise
 * 1.5 us after each conversion starts. Opening a pty does not reset a board:
 * the host asks for the banner with HELLO.
 *
 * Simulated time is not paced to wall time: it runs as fast as the CPU allows.
 *
 * Baud rate: each byte crosses the pty as it would cross a real serial line when
 * the host opens the port at a rate (the pty's termios, set by pyserial) other
 * than the firmware's UART (UBRR0 and U2X0, at the board's clock): bytes sent back
 * to back at one rate are read by a UART at the other one (see reframe), so a
 * firmware built for 115200 baud opened at 500000 answers in garbage, as a board
 * does. Rates within 1 % of each other pass unchanged.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "avr_adc.h"
#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"

#define F_CPU 16000000.0
#define V_HIGH 4.9
#define V_LOW 0.05
#define THRESHOLD 2.5
#define ADC_HOLD_S 1.5e-6
#define OUTBUF 65536
#define NOISE_STEP_S 0.5e-6    /* the noise on D8 changes this often */
#define DELAY_SLOTS 64         /* pin changes in flight on a wire with a propagation delay */

static volatile sig_atomic_t stop;

/* The kernel's termios2 (asm-generic/termbits.h): TCGETS2 gives the line's speed in
 * bit/s whatever way the host set it (a B constant, or BOTHER for 250000). */
struct termios2 {
    tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
    cc_t c_line;
    cc_t c_cc[19];
    speed_t c_ispeed, c_ospeed;
};

typedef struct board {
    int index;
    avr_t *avr;
    double ppm;
    int pty;                   /* master side */
    int slave;                 /* the host's side, kept open (see setup_board) */
    char pty_name[64];
    int xoff;                  /* the UART's input FIFO is full */
    uint8_t out[OUTBUF];       /* bytes from the UART waiting for the pty */
    size_t out_len;
    avr_irq_t *uart_in;
    avr_irq_t *pin_in;         /* PB0, the digital input */
    avr_irq_t *adc_in;         /* ADC channel 0 */
    avr_cycle_count_t cycle0;  /* cycles run before the last reset (simavr restarts the count) */
    avr_cycle_count_t last_cycle; /* avr->cycle after the last avr_run: a drop is a reset */
    uint8_t in_q[512];         /* reframed host bytes waiting for room in the UART's FIFO */
    size_t in_q_len;
} board_t;

/* A wire: the sender's D7 through R to the receiver, C to ground. */
typedef struct wire {
    double t0, v0, target;     /* v(t) = target + (v0 - target) * exp(-(t - t0) / tau) */
    double cross_at;           /* when the receiver's D8 changes next, or INFINITY */
    int cross_level;
    int digital;               /* the level D8 reads now */
    double next_noise;         /* when D8 is next read against fresh noise */
    double pend_t[DELAY_SLOTS]; /* pin changes still travelling along the wire */
    int pend_level[DELAY_SLOTS];
    unsigned pend_head, pend_tail;
} wire_t;

static board_t boards[2];
static wire_t wires[2];        /* wire i: driven by board i, read by board 1 - i */
static double tau = 22e-6, noise_v = 0.015, delay_s = 0, hyst_v = 0, rout = 0;
#define WIRE_R 10000.0         /* the wire's series resistor (tau = R C) */

/* Where D8 switches: up above the rising threshold, down below the falling one. */
static double threshold_for(int to_high)
{
    return to_high ? THRESHOLD + hyst_v / 2 : THRESHOLD - hyst_v / 2;
}
static uint64_t rng_state = 1;
static uint8_t boot_image[32768]; /* --bootloader: its bytes at their flash addresses */
static uint8_t boot_used[32768];  /* which of them the file gave */
static int boot_count;            /* how many bytes it gave */
static uint32_t boot_start;       /* the lowest address: where the board starts */

static int hex_byte(const char *p)
{
    unsigned v;
    return sscanf(p, "%2x", &v) == 1 ? (int)v : -1;
}

/* Read an Intel HEX file into boot_image: data records (00) at their addresses plus
 * any extended linear or segment base (04, 02); the start-address records (03, 05)
 * that avr-objcopy writes say nothing about flash and are skipped. Returns 0, or -1
 * with a message naming the line. */
static int read_bootloader(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "twin: --bootloader %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[600];
    uint32_t base = 0;
    int lineno = 0, ok = 0;
    boot_start = sizeof boot_image;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strcspn(line, "\r\n");
        if (len == 0)
            continue;
        int n = len >= 11 && line[0] == ':' ? hex_byte(line + 1) : -1;
        if (n < 0 || len != 11 + 2 * (size_t)n)
            break;
        int sum = 0, v[260];
        for (int i = 0; i < n + 5; i++) {
            v[i] = hex_byte(line + 1 + 2 * i);
            if (v[i] < 0)
                goto bad;
            sum += v[i];
        }
        if (sum & 0xFF)
            break;
        uint32_t addr = base + ((uint32_t)v[1] << 8 | (uint32_t)v[2]);
        if (v[3] == 0) {
            for (int i = 0; i < n; i++, addr++) {
                if (addr >= sizeof boot_image)
                    goto bad;
                boot_image[addr] = (uint8_t)v[4 + i];
                boot_used[addr] = 1;
                boot_count++;
                if (addr < boot_start)
                    boot_start = addr;
            }
        } else if (v[3] == 1) {
            ok = boot_count > 0;
            break;
        } else if (v[3] == 2 && n == 2) {
            base = ((uint32_t)v[4] << 8 | (uint32_t)v[5]) << 4;
        } else if (v[3] == 4 && n == 2) {
            base = ((uint32_t)v[4] << 8 | (uint32_t)v[5]) << 16;
        } else if (v[3] != 3 && v[3] != 5) {
            break;
        }
    }
bad:
    fclose(f);
    if (!ok) {
        fprintf(stderr, "twin: --bootloader %s: line %d: not an Intel HEX file for the "
                        "ATmega328P's 32 KiB of flash\n", path, lineno);
        return -1;
    }
    return 0;
}

static double now_of(board_t *b)
{
    return (double)(b->cycle0 + b->avr->cycle) / (F_CPU * (1 + b->ppm * 1e-6));
}

static double uniform(void)
{
    /* xorshift64*: a small, seeded generator, so a run can be repeated */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return ((rng_state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static double wire_volts(wire_t *w, double t)
{
    if (tau <= 0 || t <= w->t0)
        return tau <= 0 ? w->target : w->v0;
    return w->target + (w->v0 - w->target) * exp(-(t - w->t0) / tau);
}

/* The sender's pin changed at time t: the capacitor starts towards the new level. */
static void wire_drive(wire_t *w, double t, int level)
{
    double target = level ? V_HIGH : V_LOW;
    w->v0 = wire_volts(w, t);
    w->t0 = t;
    w->target = target;
    int want = target > THRESHOLD;
    if (want == w->digital) {
        w->cross_at = INFINITY; /* already on that side of the threshold */
        return;
    }
    double dt = tau > 0 ? tau * log((w->v0 - target) / (threshold_for(want) - target)) : 0;
    w->cross_at = t + (dt > 0 ? dt : 0);
    w->cross_level = want;
}

static void pin_changed(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    board_t *b = param;
    wire_t *w = &wires[b->index];
    if (delay_s <= 0) {
        wire_drive(w, now_of(b), value ? 1 : 0);
        return;
    }
    /* The change reaches the wire delay_s later; if more than DELAY_SLOTS changes are
     * in flight (edges closer than delay / 64), the oldest one lands early. */
    if (w->pend_head - w->pend_tail == DELAY_SLOTS) {
        unsigned i = w->pend_tail++ % DELAY_SLOTS;
        wire_drive(w, w->pend_t[i], w->pend_level[i]);
    }
    unsigned i = w->pend_head++ % DELAY_SLOTS;
    w->pend_t[i] = now_of(b) + delay_s;
    w->pend_level[i] = value ? 1 : 0;
}

/* The receiver's digital input at time t: the RC voltage crossing 2.5 V, and with
 * noise, that voltage plus a fresh noise value every NOISE_STEP_S (a voltage far
 * from the threshold needs no noise drawn: 8 sigma never cross). */
static void wire_update(wire_t *w, board_t *reader, double t)
{
    while (w->pend_tail != w->pend_head && w->pend_t[w->pend_tail % DELAY_SLOTS] <= t) {
        unsigned i = w->pend_tail++ % DELAY_SLOTS;
        wire_drive(w, w->pend_t[i], w->pend_level[i]);
    }
    int level = w->digital;
    if (noise_v > 0) {
        if (t >= w->next_noise) {
            w->next_noise = t + NOISE_STEP_S;
            double v = wire_volts(w, t);
            double thr = threshold_for(!w->digital); /* what it takes to change */
            if (fabs(v - thr) < 8 * noise_v)
                level = v + noise_v * gauss() > thr ? 1 : 0;
            else
                level = v > thr ? 1 : 0;
            w->cross_at = INFINITY;
        }
    } else if (w->cross_at <= t) {
        level = w->cross_level;
        w->cross_at = INFINITY;
    }
    if (level != w->digital) {
        w->digital = level;
        avr_raise_irq(reader->pin_in, (uint32_t)level);
    }
}

static void adc_started(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    board_t *b = param; /* the receiving board: it reads the other board's wire */
    double v = wire_volts(&wires[1 - b->index], now_of(b) + ADC_HOLD_S) + noise_v * gauss();
    if (v < 0)
        v = 0;
    avr_raise_irq(b->adc_in, (uint32_t)lround(v * 1000));
}

static void uart_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    board_t *b = param;
    if (b->out_len < OUTBUF)
        b->out[b->out_len++] = (uint8_t)value;
}

static void uart_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    ((board_t *)param)->xoff = 0;
}

static void uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)value;
    ((board_t *)param)->xoff = 1;
}

static void no_sleep(avr_t *avr, avr_cycle_count_t howlong)
{
    (void)avr;
    (void)howlong;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* simavr's UART sleeps while the firmware polls it (0.4 % of real speed) and prints
 * lines on the console: neither, please. */
static void uart_fast(board_t *b)
{
    uint32_t flags = 0;
    avr_ioctl(b->avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
    avr_ioctl(b->avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
}

/* The reset line was pulsed: the firmware starts again (and sends its banner).
 * Bytes in flight to or from the host are lost, as on a real board. */
static void reset_board(board_t *b)
{
    avr_cycle_count_t before = b->cycle0 + b->avr->cycle;
    avr_reset(b->avr);
    b->cycle0 = before - b->avr->cycle; /* keep this board's clock running on */
    uart_fast(b);
    b->avr->data[0x54] |= 1 << 1; /* MCUSR: EXTRF, the reset pin was pulled low */
    b->last_cycle = b->avr->cycle;
    b->out_len = 0;
    b->xoff = 0;
    b->in_q_len = 0;
    uint8_t junk[256];
    while (read(b->pty, junk, sizeof junk) > 0) {
    }
    /* and what the host has not read yet: the host asks for the reset right after
     * opening the port, so the next byte it reads is the new banner's first */
    tcflush(b->slave, TCIOFLUSH);
}

static void setup_board(board_t *b, int index, elf_firmware_t *fw)
{
    /* fw is NULL for "none": a blank flash (simavr fills it with 0xFF) */
    b->index = index;
    b->avr = avr_make_mcu_by_name("atmega328p");
    if (!b->avr) {
        fprintf(stderr, "twin: simavr has no atmega328p\n");
        exit(1);
    }
    avr_init(b->avr);
    b->avr->frequency = (uint32_t)F_CPU;
    b->avr->vcc = b->avr->avcc = 5000;
    b->avr->log = LOG_ERROR;
    if (fw)
        avr_load_firmware(b->avr, fw);
    if (boot_count) {
        for (uint32_t a = 0; a < sizeof boot_image; a++)
            if (boot_used[a])
                b->avr->flash[a] = boot_image[a];
        b->avr->codeend = b->avr->flashend;
        b->avr->reset_pc = b->avr->pc = boot_start;
    }
    b->avr->sleep = no_sleep; /* one core sleeping must not stall the other */

    uart_fast(b);
    b->uart_in = avr_io_getirq(b->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(b->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            uart_out, b);
    avr_irq_register_notify(avr_io_getirq(b->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            uart_xon, b);
    avr_irq_register_notify(avr_io_getirq(b->avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            uart_xoff, b);
    avr_irq_register_notify(avr_io_getirq(b->avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 7), pin_changed, b);
    b->pin_in = avr_io_getirq(b->avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 0);
    b->adc_in = avr_io_getirq(b->avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0);
    avr_irq_register_notify(avr_io_getirq(b->avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_OUT_TRIGGER),
                            adc_started, b);

    int slave;
    if (openpty(&b->pty, &slave, b->pty_name, NULL, NULL) < 0) {
        perror("twin: openpty");
        exit(1);
    }
    struct termios tio;
    tcgetattr(slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    b->slave = slave;
    /* keep the slave open so that the master never sees a hang-up between host opens */
    fcntl(b->pty, F_SETFL, fcntl(b->pty, F_GETFL) | O_NONBLOCK);
}

/* The rate the host opened its side of the pty at (bit/s; 0 if unknown). */
static double host_baud(board_t *b)
{
    struct termios2 t2;
    if (ioctl(b->slave, TCGETS2, &t2) != 0)
        return 0;
    return (double)t2.c_ospeed;
}

/* The rate the firmware's UART runs at (bit/s; 0 before the firmware set it up):
 * datasheet 20.3.1, F_CPU / (8 or 16 * (UBRR0 + 1)), on this board's clock. */
static double board_baud(board_t *b)
{
    const uint8_t *d = b->avr->data;
    unsigned ubrr = d[0xC4] | ((unsigned)(d[0xC5] & 0x0F) << 8); /* UBRR0L, UBRR0H */
    if (!(d[0xC1] & (1 << 3)))                                     /* UCSR0B: TXEN0 */
        return 0;
    double div = (d[0xC0] & (1 << 1)) ? 8.0 : 16.0;                /* UCSR0A: U2X0 */
    return F_CPU * (1 + b->ppm * 1e-6) / (div * (ubrr + 1));
}

/* The line level at time t of n bytes sent back to back (8N1) with bit time ts. */
static int line_at(const uint8_t *in, size_t n, double ts, double t)
{
    if (t < 0)
        return 1;
    size_t bit = (size_t)(t / ts);
    if (bit >= 10 * n)
        return 1; /* idle after the last stop bit */
    unsigned k = (unsigned)(bit % 10);
    if (k == 0)
        return 0; /* start bit */
    if (k == 9)
        return 1; /* stop bit */
    return (in[bit / 10] >> (k - 1)) & 1;
}

/* What a UART with bit time tr reads from n bytes sent back to back with bit time ts:
 * it starts on a falling edge, checks the start bit half a bit later, reads 8 data
 * bits and the stop bit in their middles (a byte with a low stop bit is kept, as the
 * ATmega's UDR0 and USB-serial chips keep it), then waits for the next falling edge.
 * Returns how many bytes it read into out (at most cap). */
static size_t reframe(const uint8_t *in, size_t n, double ts, double tr, uint8_t *out, size_t cap)
{
    size_t m = 0;
    size_t edge = 0; /* bit boundaries of the sender at which to look for a falling edge */
    while (m < cap) {
        while (edge < 10 * n && !(line_at(in, n, ts, (edge - 0.5) * ts) == 1 &&
                                  line_at(in, n, ts, (edge + 0.5) * ts) == 0))
            edge++;
        if (edge >= 10 * n)
            break;
        double t0 = edge * ts;
        if (line_at(in, n, ts, t0 + 0.5 * tr) != 0) { /* a glitch, not a start bit */
            edge++;
            continue;
        }
        unsigned value = 0;
        for (unsigned k = 0; k < 8; k++)
            value |= (unsigned)line_at(in, n, ts, t0 + (1.5 + k) * tr) << k;
        out[m++] = (uint8_t)value;
        double t_stop = t0 + 9.5 * tr;
        edge = (size_t)(t_stop / ts) + 1;
    }
    return m;
}

/* Move bytes between a board's UART and its pty. */
static void pump(board_t *b)
{
    double host = host_baud(b), board = board_baud(b);
    int mismatch = host > 0 && board > 0 && fabs(host / board - 1) > 0.01;
    if (b->out_len && mismatch) {
        /* the board's bytes as the host's USB-serial chip reads them at its rate */
        static uint8_t seen[OUTBUF];
        size_t m = reframe(b->out, b->out_len, 1 / board, 1 / host, seen, sizeof seen);
        b->out_len = 0;
        if (m && write(b->pty, seen, m) < 0) {
            /* the host is not reading: the bytes are lost, as on a real line */
        }
    } else if (b->out_len) {
        ssize_t n = write(b->pty, b->out, b->out_len);
        if (n > 0) {
            memmove(b->out, b->out + n, b->out_len - (size_t)n);
            b->out_len -= (size_t)n;
        }
    }
    if (mismatch) {
        /* the host's bytes as the firmware's UART reads them; what does not fit in the
         * UART's FIFO waits in in_q, as a USB-serial chip's buffer holds it (a bootloader
         * reads a 128-byte page sent in one write at 115200 baud, 2 % slower than its
         * 117 647) */
        if (!b->in_q_len) {
            uint8_t in[64];
            ssize_t n = read(b->pty, in, sizeof in);
            if (n > 0)
                b->in_q_len = reframe(in, (size_t)n, 1 / host, 1 / board, b->in_q,
                                      sizeof b->in_q);
        }
        size_t i = 0;
        while (i < b->in_q_len && !b->xoff)
            avr_raise_irq(b->uart_in, b->in_q[i++]);
        memmove(b->in_q, b->in_q + i, b->in_q_len - i);
        b->in_q_len -= i;
        return;
    }
    while (!b->xoff) {
        uint8_t c;
        ssize_t n = read(b->pty, &c, 1);
        if (n != 1)
            break;
        avr_raise_irq(b->uart_in, c);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: twin FIRMWARE.elf [--rc-us 22] [--noise-mv 15] [--seed 1] "
                    "[--ppm0 5000] [--ppm1 -5000] [--delay-us 0] [--hyst-mv 0] "
                    "[--rout-ohm 0] [--control] "
                    "[--clock-file PATH] [--bootloader BOOT.hex]\n"
                    "       FIRMWARE may be \"none\" (a blank flash) with --bootloader\n");
}

/* One option's value: a finite number within [lo, hi], or exit naming it. */
static double number(const char *opt, const char *text, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "twin: %s %s: expected a number from %g to %g\n", opt, text, lo, hi);
        exit(2);
    }
    return v;
}

/* Commands from the host program on stdin (with --control). Returns 0 at end of input. */
static int control(char *line, size_t *len)
{
    ssize_t n = read(0, line + *len, 127 - *len);
    if (n == 0)
        return 0;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    *len += (size_t)n;
    char *nl;
    while ((nl = memchr(line, '\n', *len)) != NULL) {
        *nl = 0;
        int which;
        if (sscanf(line, "reset %d", &which) == 1 && (which == 0 || which == 1)) {
            reset_board(&boards[which]);
            printf("reset %d\n", which);
        } else if (!strcmp(line, "time")) {
            printf("time %.9f\n", now_of(&boards[0]));
        } else {
            printf("error unknown command: %s\n", line);
        }
        fflush(stdout);
        size_t used = (size_t)(nl - line) + 1;
        memmove(line, nl + 1, *len - used);
        *len -= used;
    }
    if (*len == 127)
        *len = 0; /* a line that long is no command: drop it */
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        usage();
        return 2;
    }
    double ppm[2] = {5000, -5000}; /* +-0.5 %: the spread of the Uno's ceramic resonators */
    int use_control = 0;
    volatile double *clock_out = NULL;
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--control")) {
            use_control = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "twin: %s needs a value\n", opt);
            usage();
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(opt, "--rc-us"))
            tau = number(opt, val, 0, 1e6) * 1e-6;
        else if (!strcmp(opt, "--noise-mv"))
            noise_v = number(opt, val, 0, 1e5) / 1000;
        else if (!strcmp(opt, "--seed"))
            rng_state = (uint64_t)number(opt, val, 0, 4294967295.0) * 2654435761ULL + 1;
        else if (!strcmp(opt, "--ppm0"))
            ppm[0] = number(opt, val, -49999, 49999);
        else if (!strcmp(opt, "--ppm1"))
            ppm[1] = number(opt, val, -49999, 49999);
        else if (!strcmp(opt, "--bootloader")) {
            if (read_bootloader(val) != 0)
                return 2;
        }
        else if (!strcmp(opt, "--delay-us"))
            delay_s = number(opt, val, 0, 1e6) * 1e-6;
        else if (!strcmp(opt, "--hyst-mv"))
            hyst_v = number(opt, val, 0, 1000) / 1000;
        else if (!strcmp(opt, "--rout-ohm"))
            rout = number(opt, val, 0, 1000);
        else if (!strcmp(opt, "--clock-file")) {
            int fd = open(val, O_RDWR | O_CREAT, 0600);
            void *p = MAP_FAILED;
            if (fd >= 0 && ftruncate(fd, sizeof(double)) == 0)
                p = mmap(NULL, sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (p == MAP_FAILED) {
                fprintf(stderr, "twin: --clock-file %s: %s\n", val, strerror(errno));
                return 2;
            }
            close(fd);
            clock_out = p;
            *clock_out = 0;
        }
        else {
            fprintf(stderr, "twin: unknown option %s\n", opt);
            usage();
            return 2;
        }
    }
    tau *= 1 + rout / WIRE_R; /* the sender's pin is in series with the wire's resistor */
    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    int blank = !strcmp(argv[1], "none");
    if (blank && !boot_count) {
        fprintf(stderr, "twin: FIRMWARE \"none\" needs --bootloader (a blank board runs "
                        "nothing)\n");
        return 2;
    }
    if (!blank && elf_read_firmware(argv[1], &fw) != 0) {
        fprintf(stderr, "twin: cannot read %s\n", argv[1]);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        boards[i].ppm = ppm[i];
        setup_board(&boards[i], i, blank ? NULL : &fw);
        wires[i] = (wire_t){.v0 = V_LOW, .target = V_LOW, .cross_at = INFINITY};
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char line[128];
    size_t line_len = 0;
    if (use_control)
        fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    printf("board0 %s\nboard1 %s\n", boards[0].pty_name, boards[1].pty_name);
    fflush(stdout);

    unsigned long steps = 0;
    while (!stop) {
        /* run whichever core is behind, so both advance together */
        board_t *b = now_of(&boards[0]) <= now_of(&boards[1]) ? &boards[0] : &boards[1];
        int state = avr_run(b->avr);
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "twin: board %d stopped (state %d)\n", b->index, state);
            return 1;
        }
        if (b->avr->cycle < b->last_cycle) {
            /* simavr reset the core by itself (the watchdog) and restarted its count */
            b->cycle0 += b->last_cycle;
            uart_fast(b);
        }
        b->last_cycle = b->avr->cycle;
        double t = now_of(b);
        wire_update(&wires[0], &boards[1], t);
        wire_update(&wires[1], &boards[0], t);
        if ((++steps & 1023) == 0) {
            if (clock_out)
                *clock_out = now_of(&boards[0]);
            pump(&boards[0]);
            pump(&boards[1]);
            if (use_control && (steps & 16383) == 0 && !control(line, &line_len))
                break; /* the program that started us has gone */
        }
    }
    return 0;
}
