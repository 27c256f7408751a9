/*
 * icp-check: does simavr model Timer1's input capture on ICP1 (PB0 = Arduino D8)?
 *
 *   make -C hardware icp-check
 *
 * Runs twin/icp_check_fw.c on one simavr ATmega328P, changes PB0 through the
 * IOPORT pin IRQ (as the twin's wire does) at known cycles, and prints the
 * ICR1 values the firmware stored next to the cycles of the edges. simavr
 * passes the pin change to the timer by itself: each latched ICR1 differs from
 * the previous one by exactly the cycles between the edges, ICES1 selects the
 * edge, and an edge that comes before the firmware has flipped ICES1 (here the
 * 2-cycle pulse at 1800) is missed, as on the chip: the firmware then waits for
 * the wrong edge, so the rising edge at 2400 is skipped and the falling one at
 * 2564 latched. A receiver must read the pin after each capture, not assume.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avr_ioport.h"
#include "sim_avr.h"
#include "sim_elf.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: icp_check FIRMWARE.elf TS_ADDR N_ADDR (data addresses, hex)\n");
        return 2;
    }
    elf_firmware_t fw;
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[1], &fw) != 0)
        return 1;
    unsigned ts = (unsigned)strtoul(argv[2], 0, 16) & 0xFFFF, na = (unsigned)strtoul(argv[3], 0, 16) & 0xFFFF;
    avr_t *avr = avr_make_mcu_by_name("atmega328p");
    avr_init(avr);
    avr->frequency = 16000000;
    avr->log = LOG_ERROR;
    avr_load_firmware(avr, &fw);
    avr_irq_t *pb0 = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 0);
    static const unsigned at[] = {1000, 1160, 1480, 1500, 1800, 1801, 2400, 2563};
    unsigned long long edge[8];
    int level = 0;
    for (int i = 0; i < 8; i++) {
        while (avr->cycle < at[i])
            avr_run(avr);
        level ^= 1;
        avr_raise_irq(pb0, (uint32_t)level);
        edge[i] = avr->cycle;
        printf("edge %d: PB0 -> %d at cycle %llu\n", i, level, edge[i]);
    }
    while (avr->cycle < 4000)
        avr_run(avr);
    unsigned n = avr->data[na];
    printf("ICR1 latched %u times:", n);
    unsigned prev = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned v = avr->data[ts + 2 * i] | (avr->data[ts + 2 * i + 1] << 8);
        printf(" %u", v);
        if (i)
            printf(" (+%u)", v - prev);
        prev = v;
    }
    printf("\n");
    return n ? 0 : 1;
}
