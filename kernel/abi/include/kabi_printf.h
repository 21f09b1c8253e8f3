/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * kabi_printf.h - printf-style formatting for C modules: the subset of Linux's
 * vsprintf that printk users reach for. Included by kabi.h, which builds
 * printk()/pr_info() on it; hand-written (not generated) and freestanding
 * (<stdarg.h>, <stddef.h>, <stdint.h>: compiler headers, no libc), so the host
 * tests (kernel/abi/tests/c_printf.rs) compile this very file with the host gcc.
 *
 * Conversions: %d %i %u %x %X %c %s %p %%. Length modifiers: hh h l ll z
 * (as Linux, %zd is signed and %zu unsigned). Flags '-' (left-justify, wins
 * over '0') and '0' (zero-pad numbers); a field width as digits or '*'; a
 * precision ('.N' or '.*') limits %s. %s of NULL prints "(null)" and %p prints
 * the address as 16 hex digits (Linux's %px: nothing here hashes pointers), as
 * Linux does. Anything else after '%' is printed as it stands.
 *
 * kabi_vsnprintf() writes at most size - 1 characters and a NUL (when size is
 * not 0) and returns the length the whole output would have had, as
 * vsnprintf(); it never writes past buf[size - 1], whatever the format asks.
 */
#ifndef KABI_PRINTF_H
#define KABI_PRINTF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Widths and precisions above this are clamped (the output is bounded anyway). */
#define KABI_FMT_MAX_WIDTH 4096

struct kabi_fmt_out {
	char *buf;
	size_t size;
	size_t len; /* characters produced, including those that did not fit */
};

static inline void kabi_fmt_putc(struct kabi_fmt_out *o, char c)
{
	/* Keep the last byte for the NUL. */
	if (o->size != 0 && o->len < o->size - 1)
		o->buf[o->len] = c;
	o->len++;
}

static inline void kabi_fmt_pad(struct kabi_fmt_out *o, char c, int n)
{
	while (n-- > 0)
		kabi_fmt_putc(o, c);
}

/* The digits of mag in base (10 or 16), with a '-' if neg, in a field of width. */
static inline void kabi_fmt_number(struct kabi_fmt_out *o, uint64_t mag, int neg,
				   unsigned int base, int upper, int width,
				   int left, int zero)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24]; /* 2^64 has 20 decimal digits */
	int n = 0;
	int len;

	do {
		tmp[n++] = digits[mag % base];
		mag /= base;
	} while (mag != 0);
	len = n + (neg ? 1 : 0);
	if (!left && !zero)
		kabi_fmt_pad(o, ' ', width - len);
	if (neg)
		kabi_fmt_putc(o, '-');
	if (!left && zero)
		kabi_fmt_pad(o, '0', width - len);
	while (n > 0)
		kabi_fmt_putc(o, tmp[--n]);
	if (left)
		kabi_fmt_pad(o, ' ', width - len);
}

static inline void kabi_fmt_string(struct kabi_fmt_out *o, const char *s,
				   int precision, int width, int left)
{
	int len = 0;

	if (s == NULL)
		s = "(null)";
	while (s[len] != '\0' && (precision < 0 || len < precision))
		len++;
	if (!left)
		kabi_fmt_pad(o, ' ', width - len);
	for (int i = 0; i < len; i++)
		kabi_fmt_putc(o, s[i]);
	if (left)
		kabi_fmt_pad(o, ' ', width - len);
}

/* Reads a decimal field (width or precision), clamped to KABI_FMT_MAX_WIDTH. */
static inline int kabi_fmt_field(const char **p)
{
	int v = 0;

	while (**p >= '0' && **p <= '9') {
		if (v < KABI_FMT_MAX_WIDTH)
			v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v > KABI_FMT_MAX_WIDTH ? KABI_FMT_MAX_WIDTH : v;
}

static inline __attribute__((format(printf, 3, 0))) int
kabi_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct kabi_fmt_out o = { buf, size, 0 };
	const char *p = fmt;

	while (*p != '\0') {
		int left = 0, zero = 0, width = 0, precision = -1, length = 0;
		const char *start = p;

		if (*p != '%') {
			kabi_fmt_putc(&o, *p++);
			continue;
		}
		p++;
		for (;; p++) {
			if (*p == '-')
				left = 1;
			else if (*p == '0')
				zero = 1;
			else
				break;
		}
		if (*p == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = 1;
				width = width == INT32_MIN ? KABI_FMT_MAX_WIDTH : -width;
			}
			if (width > KABI_FMT_MAX_WIDTH)
				width = KABI_FMT_MAX_WIDTH;
			p++;
		} else {
			width = kabi_fmt_field(&p);
		}
		if (*p == '.') {
			p++;
			if (*p == '*') {
				precision = va_arg(ap, int);
				if (precision > KABI_FMT_MAX_WIDTH)
					precision = KABI_FMT_MAX_WIDTH;
				p++;
			} else {
				precision = kabi_fmt_field(&p);
			}
		}
		/* length: 0 int, 1 long, 2 long long, 3 size_t, -1 short, -2 char */
		if (*p == 'h') {
			length = -1;
			if (*++p == 'h') {
				length = -2;
				p++;
			}
		} else if (*p == 'l') {
			length = 1;
			if (*++p == 'l') {
				length = 2;
				p++;
			}
		} else if (*p == 'z') {
			length = 3;
			p++;
		}
		switch (*p) {
		case 'd':
		case 'i': {
			int64_t v;

			if (length == 1)
				v = va_arg(ap, long);
			else if (length == 2)
				v = va_arg(ap, long long);
			else if (length == 3)
				v = va_arg(ap, long); /* ssize_t on LP64 */
			else if (length == -1)
				v = (short)va_arg(ap, int);
			else if (length == -2)
				v = (signed char)va_arg(ap, int);
			else
				v = va_arg(ap, int);
			/* 0 - (uint64_t)v is |v| for every v, INT64_MIN included. */
			kabi_fmt_number(&o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0,
					10, 0, width, left, zero);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v;

			if (length == 1)
				v = va_arg(ap, unsigned long);
			else if (length == 2)
				v = va_arg(ap, unsigned long long);
			else if (length == 3)
				v = va_arg(ap, size_t);
			else if (length == -1)
				v = (unsigned short)va_arg(ap, unsigned int);
			else if (length == -2)
				v = (unsigned char)va_arg(ap, unsigned int);
			else
				v = va_arg(ap, unsigned int);
			kabi_fmt_number(&o, v, 0, *p == 'u' ? 10 : 16, *p == 'X', width,
					left, zero);
			break;
		}
		case 'c':
			if (!left)
				kabi_fmt_pad(&o, ' ', width - 1);
			kabi_fmt_putc(&o, (char)va_arg(ap, int));
			if (left)
				kabi_fmt_pad(&o, ' ', width - 1);
			break;
		case 's':
			kabi_fmt_string(&o, va_arg(ap, const char *), precision, width, left);
			break;
		case 'p':
			kabi_fmt_number(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), 0, 16, 0,
					width > 16 ? width : 16, left, !left);
			break;
		case '%':
			kabi_fmt_putc(&o, '%');
			break;
		case '\0':
			/* A lone '%' at the end: print it, stop. */
			kabi_fmt_putc(&o, '%');
			continue;
		default:
			/* Not a conversion we know: print it as it stands. */
			while (start <= p)
				kabi_fmt_putc(&o, *start++);
			p++;
			continue;
		}
		p++;
	}
	if (size != 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

static inline __attribute__((format(printf, 3, 4))) int
kabi_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kabi_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

#endif /* KABI_PRINTF_H */
