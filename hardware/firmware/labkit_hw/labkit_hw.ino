/*
 * labkit_hw.ino: this file only exists so that the Arduino IDE can open the
 * sketch folder. The whole firmware is in firmware.c (plain C for avr-libc,
 * no Arduino library), which the IDE compiles and links together with this
 * file. firmware.c defines its own main(), so the Arduino core's setup() and
 * loop() are never used.
 *
 * Arduino IDE: File > Open... > hardware/firmware/labkit_hw/labkit_hw.ino,
 * Tools > Board > "Arduino Uno" (or "Arduino Nano", processor
 * "ATmega328P" or "ATmega328P (Old Bootloader)"), Tools > Port, then Upload.
 * See hardware/README.md.
 */
