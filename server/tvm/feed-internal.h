/* tvm feeds: what the feed parsers share (feed-common.c). Not for other
 * modules: they use feeds.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/tvm/feeds.h"

/* A copy of s[0..n) kept in f (NULL on ENOMEM). */
const char *feed_strndup(struct tvm_feed *f, const char *s, size_t n);

/* A new row at the end of f, zeroed. Returns 0, -E2BIG past
 * TVM_FEED_ROWS_MAX, -ENOMEM. */
int feed_row_add(struct tvm_feed *f, struct tvm_row **ret);

/* true if s is a Debian version of at most TVM_VERSION_MAX bytes: not
 * empty, only letters, digits and . + ~ : - _ */
bool feed_version_ok(const char *s);

/* true if s is a non-empty id of at most max bytes made of letters,
 * digits and . + - _ : */
bool feed_id_ok(const char *s, size_t max);

/* true if v nests no deeper than TVM_JSON_DEPTH_MAX below depth. */
bool feed_json_depth_ok(const json_t *v, int depth);

/* The text to store as a summary: s (or its first line, when first_line)
 * cut to TVM_SUMMARY_MAX bytes at a character boundary, control
 * characters as spaces; kept in f. NULL s gives "". NULL on ENOMEM. */
const char *feed_summary(struct tvm_feed *f, const char *s, bool first_line);

/* The normalized severity of a Debian urgency or Ubuntu priority, as
 * given ("high**" is "high"): low, medium, high, critical, else unknown;
 * "unimportant" and "negligible" are low. */
const char *feed_urgency_severity(const char *urgency);

/* The numeric release of a Debian codename ("bookworm" -> "12"; "sid" ->
 * "sid"), or NULL if unknown. */
const char *feed_debian_release(const char *codename);

/* Parses JSON of at most max bytes, rejecting duplicate keys. Returns the
 * value, or NULL with "not valid JSON: line L column C: reason" in err. */
json_t *feed_json_load(const char *data, size_t len, char *err, size_t err_size);

/* tvm_osv_parse() and tvm_tracker_parse() on a document already parsed. */
int feed_osv_record(struct tvm_feed *f, const json_t *rec, const char *name, char *err, size_t err_size);
int feed_tracker_doc(struct tvm_feed *f, const json_t *doc, char *err, size_t err_size);

/* tvm_tracker_parse() one source package at a time, so that only one
 * package's JSON is in memory at once (the whole document is ~80 MB;
 * parsed whole it would take over a gigabyte). */
int feed_tracker_text(struct tvm_feed *f, const char *data, size_t len, char *err, size_t err_size);
