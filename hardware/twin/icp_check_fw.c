/* The firmware half of `make icp-check` (twin/icp_check.c): Timer1 counts CPU
 * cycles; every edge on ICP1 (PB0, D8) that the input capture unit latches is
 * stored, and the edge select ICES1 is flipped to wait for the opposite edge. */
#include <avr/io.h>
volatile uint16_t ts[16];
volatile uint8_t n;
int main(void)
{
    DDRB = 0;
    TCCR1A = 0;
    TCCR1B = (1 << ICES1) | (1 << CS10); /* rising edge first, no prescaler */
    for (;;) {
        while (!(TIFR1 & (1 << ICF1))) {
        }
        uint16_t t = ICR1;
        TCCR1B ^= (1 << ICES1);
        TIFR1 = (1 << ICF1);
        if (n < 16)
            ts[n++] = t;
    }
}
