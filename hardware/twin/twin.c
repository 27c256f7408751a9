/*
 * twin: two simulated ATmega328P boards running the labkit-hw firmware, joined
 * by the lab's two wires, each reachable by the host through a pseudo-terminal.
 *
 *   twin build/labkit_hw.elf [--rc-us 22] [--noise-mv 15] [--seed 1]
 *                            [--ppm0 300] [--ppm1 -200]
 *
 * prints "board0 /dev/pts/N" and "board1 /dev/pts/M" on stdout, then runs until
 * SIGTERM or SIGINT. The host opens those ptys like real boards (pyserial).
 *
 * Both cores run in lock-step on a common clock (each core's 16 MHz made
 * ppm fast or slow). Board i's D7 (PD7) drives wire i; the other board reads
 * it on D8 (PB0), after the RC filter (time constant rc-us) has crossed 2.5 V,
 * and on A0 through the ADC, which samples the RC voltage plus Gaussian noise
 * 1.5 us after each conversion starts. Opening a pty does not reset a board:
 * the host asks for the banner with HELLO.
 *
 * Simulated time is not paced to wall time: it runs as fast as the CPU allows.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pty.h>
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

static volatile sig_atomic_t stop;

typedef struct board {
    int index;
    avr_t *avr;
    double ppm;
    int pty;                   /* master side */
    char pty_name[64];
    int xoff;                  /* the UART's input FIFO is full */
    uint8_t out[OUTBUF];       /* bytes from the UART waiting for the pty */
    size_t out_len;
    avr_irq_t *uart_in;
    avr_irq_t *pin_in;         /* PB0, the digital input */
    avr_irq_t *adc_in;         /* ADC channel 0 */
} board_t;

/* A wire: the sender's D7 through R to the receiver, C to ground. */
typedef struct wire {
    double t0, v0, target;     /* v(t) = target + (v0 - target) * exp(-(t - t0) / tau) */
    double cross_at;           /* when the receiver's D8 changes next, or INFINITY */
    int cross_level;
    int digital;               /* the level D8 reads now */
} wire_t;

static board_t boards[2];
static wire_t wires[2];        /* wire i: driven by board i, read by board 1 - i */
static double tau = 22e-6, noise_v = 0.015;
static uint64_t rng_state = 1;

static double now_of(board_t *b) { return (double)b->avr->cycle / (F_CPU * (1 + b->ppm * 1e-6)); }

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
    double dt = tau > 0 ? tau * log((w->v0 - target) / (THRESHOLD - target)) : 0;
    w->cross_at = t + (dt > 0 ? dt : 0);
    w->cross_level = want;
}

static void pin_changed(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    board_t *b = param;
    wire_drive(&wires[b->index], now_of(b), value ? 1 : 0);
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

static void setup_board(board_t *b, int index, elf_firmware_t *fw)
{
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
    avr_load_firmware(b->avr, fw);
    b->avr->sleep = no_sleep; /* one core sleeping must not stall the other */

    uint32_t flags = 0;
    avr_ioctl(b->avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
    avr_ioctl(b->avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
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
    /* keep the slave open so that the master never sees a hang-up between host opens */
    fcntl(b->pty, F_SETFL, fcntl(b->pty, F_GETFL) | O_NONBLOCK);
}

/* Move bytes between a board's UART and its pty. */
static void pump(board_t *b)
{
    if (b->out_len) {
        ssize_t n = write(b->pty, b->out, b->out_len);
        if (n > 0) {
            memmove(b->out, b->out + n, b->out_len - (size_t)n);
            b->out_len -= (size_t)n;
        }
    }
    while (!b->xoff) {
        uint8_t c;
        ssize_t n = read(b->pty, &c, 1);
        if (n != 1)
            break;
        avr_raise_irq(b->uart_in, c);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: twin FIRMWARE.elf [--rc-us 22] [--noise-mv 15] [--seed 1] "
                        "[--ppm0 300] [--ppm1 -200]\n");
        return 2;
    }
    double ppm[2] = {300, -200};
    for (int i = 2; i + 1 < argc; i += 2) {
        double v = atof(argv[i + 1]);
        if (!strcmp(argv[i], "--rc-us"))
            tau = v * 1e-6;
        else if (!strcmp(argv[i], "--noise-mv"))
            noise_v = v / 1000;
        else if (!strcmp(argv[i], "--seed"))
            rng_state = (uint64_t)v * 2654435761ULL + 1;
        else if (!strcmp(argv[i], "--ppm0"))
            ppm[0] = v;
        else if (!strcmp(argv[i], "--ppm1"))
            ppm[1] = v;
        else {
            fprintf(stderr, "twin: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[1], &fw) != 0) {
        fprintf(stderr, "twin: cannot read %s\n", argv[1]);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        boards[i].ppm = ppm[i];
        setup_board(&boards[i], i, &fw);
        wires[i] = (wire_t){0, V_LOW, V_LOW, INFINITY, 0, 0};
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
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
        double t = now_of(b);
        for (int w = 0; w < 2; w++) {
            wire_t *wi = &wires[w];
            if (wi->cross_at <= t) {
                wi->digital = wi->cross_level;
                wi->cross_at = INFINITY;
                avr_raise_irq(boards[1 - w].pin_in, (uint32_t)wi->digital);
            }
        }
        if ((++steps & 1023) == 0) {
            pump(&boards[0]);
            pump(&boards[1]);
        }
    }
    return 0;
}
