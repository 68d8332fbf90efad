/*
 * stdio.c - picolibc's stdio on the EL2 console: stdout and stderr are picolibc (tinystdio)
 * streams whose put function writes to the PL011 UART, so printf, fprintf, puts, snprintf
 * and the rest are picolibc's own (formatter included). Compiled against picolibc's headers
 * (--specs=picolibc.specs, meson.build), unlike the rest of the image.
 *
 * What is EL2-specific here, and why:
 *   - the device: the UART behind el2_console_write (main.c), which takes the console lock;
 *   - a line buffer per CPU: tinystdio hands over one character at a time, and the CPUs
 *     print at once (the log stream `hyplog boot` parses is line-based), so a line goes to
 *     the UART whole, under the console lock, when it ends, fills up or is flushed;
 *   - no heap: the streams are static (tinystdio needs no buffer of its own);
 *   - no FP/SIMD register is written: EL2 runs with the host's or a guest's FP/SIMD state
 *     live (nothing saves it), and picolibc's variadic printf entry points and vsnprintf
 *     copy va_lists through q0/q1. So the entry points the image calls are defined here,
 *     compiled with -mgeneral-regs-only, as thin wrappers around picolibc's formatter
 *     (__i_vfprintf, the integer-only vfprintf, which uses only general registers); a string
 *     stream replaces tinystdio's for snprintf. el2-fpsimd-check (meson.build) disassembles
 *     the image and fails if any function picolibc also defines touches an FP/SIMD register.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "image.h"

#define LINE_MAX_BYTES 256

static struct {
	char buf[LINE_MAX_BYTES + 1];
	unsigned len;
} line[EL2_MAX_CPUS];

static void line_flush(unsigned cpu)
{
	if (!line[cpu].len)
		return;
	line[cpu].buf[line[cpu].len] = 0;
	el2_console_write(line[cpu].buf);
	line[cpu].len = 0;
}

static int uart_put(char c, FILE *f)
{
	unsigned cpu = el2_cpu();

	(void)f;
	line[cpu].buf[line[cpu].len++] = c;
	if (c == '\n' || line[cpu].len == LINE_MAX_BYTES)
		line_flush(cpu);
	return (unsigned char)c;
}

static int uart_flush(FILE *f)
{
	(void)f;
	line_flush(el2_cpu());
	return 0;
}

static FILE uart_stream = FDEV_SETUP_STREAM(uart_put, NULL, uart_flush, _FDEV_SETUP_WRITE);

FILE *const stdout = &uart_stream;
FILE *const stderr = &uart_stream;

/* ---- the printf family on top of picolibc's formatter ------------------------------------- */
int __i_vfprintf(FILE *f, const char *fmt, va_list ap);

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
	return __i_vfprintf(f, fmt, ap);
}

int fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = __i_vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = __i_vfprintf(stdout, fmt, ap);
	va_end(ap);
	return n;
}

/* a stream into a buffer: keeps cap - 1 characters and counts them all, as C requires */
struct str_stream {
	FILE file;   /* first: the formatter passes &file back to str_put */
	char *pos, *end;
};

static int str_put(char c, FILE *f)
{
	struct str_stream *s = (struct str_stream *)f;

	if (s->pos < s->end)
		*s->pos++ = c;
	return (unsigned char)c;
}

int vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct str_stream s = { .file = FDEV_SETUP_STREAM(str_put, NULL, NULL, _FDEV_SETUP_WRITE) };
	int n;

	s.pos = buf;
	s.end = cap ? buf + cap - 1 : buf;
	n = __i_vfprintf(&s.file, fmt, ap);
	if (cap)
		*s.pos = 0;
	return n;
}

int snprintf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}
