/* Parsers for the human units used on the command line and in JSON:
 * SIZE with k/m/g/t suffixes (binary: 1k = 1024), DUR with ms/s/m/h.
 *
 * Strict on purpose: no sign, no whitespace, no hex, no exponent; digits must
 * stand on both sides of a decimal point. Suffixes are case-insensitive
 * ("64K", "10S", "250MS"): no reading is ambiguous, since sizes and durations
 * never share a field. Messages name `what`, quote the text and show the
 * accepted form. */
#ifndef SBX_RUNTIME_PARSE_H
#define SBX_RUNTIME_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* "512", "64k", "256m", "1g", "1t" (optional "b"/"ib" after the suffix, so
 * "64kib" and "512b" work). Refuses empty, zero, negative, fractions, garbage,
 * overflow and values above max. `what` names the field in the message. */
int rt_parse_size(const char *s, uint64_t max, const char *what, uint64_t *out, rt_error *err);

/* "250ms", "10s", "2m", "1h"; a bare number is seconds. Fractions allowed
 * ("1.5s") when the result is a whole number of ms. Same refusals as above. */
int rt_parse_duration_ms(const char *s, uint64_t max_ms, const char *what, uint64_t *out,
                         rt_error *err);

/* Positive integer in [1, max]. */
int rt_parse_count(const char *s, uint64_t max, const char *what, uint64_t *out, rt_error *err);

/* Positive decimal in (0, max], e.g. "0.5" cores. */
int rt_parse_positive_double(const char *s, double max, const char *what, double *out,
                             rt_error *err);

/* Writes bytes in the largest unit that divides it exactly ("1024t", "64m",
 * "1000"), in a form rt_parse_size reads back. */
void rt_format_size(uint64_t bytes, char *buf, size_t len);

/* Same for durations: "168h", "90s", "250ms"; rt_parse_duration_ms reads it back. */
void rt_format_duration_ms(uint64_t ms, char *buf, size_t len);

#endif
