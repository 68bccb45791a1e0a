/* dpkgver: Debian package versions ([epoch:]upstream[-revision]) compared
 * exactly as `dpkg --compare-versions` compares them, and checked against
 * the syntax dpkg accepts without a warning. */
#pragma once

#include <stddef.h>

/* The longest version dpkgver_check() accepts. */
#define DPKGVER_MAX 256

/* Checks that the len bytes at s are a version dpkg parses without error or
 * warning: an optional epoch of digits no larger than INT_MAX followed by
 * ':', an upstream part that starts with a digit and holds only letters,
 * digits and ".+~-:", and an optional revision after the last '-' that
 * holds only letters, digits and ".+~". Stricter than dpkg in one way: no
 * blanks at all, no sign in the epoch and at most DPKGVER_MAX bytes.
 * Returns 0, or -EINVAL with *ret_reason (a static string) set. */
int dpkgver_check(const char *s, size_t len, const char **ret_reason);

/* Compares two NUL-terminated versions as dpkg does: the epochs as numbers,
 * then upstream and revision by dpkg's algorithm ('~' before everything,
 * even the end; letters before other characters; runs of digits as numbers
 * of any length). Returns <0, 0 or >0. Defined for any strings (a total
 * preorder), but only checked versions compare as dpkg documents. */
int dpkgver_compare(const char *a, const char *b);
