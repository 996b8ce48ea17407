/* Minimal string/memory functions and formatted output for test guests. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

/* Copies at most size-1 bytes and always terminates (size > 0). Returns
 * strlen(src). */
size_t strlcpy(char *dst, const char *src, size_t size);

/* Parses an optional '-' then decimal (or 0x hex) digits; *end (if not
 * NULL) gets the first unparsed character. */
long strtol_simple(const char *s, const char **end);

/* printf subset: %d %i %u %x %X %p %s %c %%, flags '-' '0', width,
 * length modifiers l, ll, z. Returns the length that would have been
 * written (like C99 vsnprintf). */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats and writes to the guest console. */
int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
