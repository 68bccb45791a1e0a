/* bench common: what the benchmark programs share: a seeded pseudo-random
 * sequence (the same in every run, so that runs compare), the monotonic
 * clock and the order of int64_t for qsort. */
#pragma once

#include <stdint.h>

/* The next number of the xorshift sequence, below n (n > 0). */
uint32_t bench_rng(uint32_t n);

/* The monotonic clock in nanoseconds. */
int64_t bench_mono_ns(void);

/* qsort order of int64_t: negative, 0 or positive as *a is below, equal to
 * or above *b. */
int bench_cmp_i64(const void *a, const void *b);
