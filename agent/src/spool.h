/* spool: lines the agent keeps on disk until the uplink has sent them
 * (alerts now; docs/DETECTION.md, "The spool").
 *
 * A spool is a directory of segment files NAME-SEQUENCE.jsonl (sequence: 20
 * decimal digits, rising), each one JSON object per line, appended to and
 * never rewritten. A segment is closed past segment_bytes and a new one
 * begun; past max_bytes in all, the oldest segments are deleted and their
 * lines counted in NAME.dropped (a decimal number, replaced atomically). A
 * line cut by a crash is left as it is and the next segment begun: a
 * reader skips a last line without its newline. The reader (the uplink)
 * deletes the segments it has sent; the spool writes only to its newest. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_SEGMENT_BYTES_DEFAULT (1u << 20)
#define SPOOL_MAX_BYTES_DEFAULT (64u << 20)
#define SPOOL_SEGMENTS_MAX 4096u        /* segments tracked; more are dropped at open */
#define SPOOL_NAME_MAX 32

struct spool;

/* Opens (creating dir with mode 0700 if needed) the spool NAME in dir,
 * holding at most max_bytes (0: the default) in segments of segment_bytes
 * (0: the default). Returns 0 or a negative errno. */
int spool_open(const char *dir, const char *name, size_t max_bytes, size_t segment_bytes,
               struct spool **ret);

/* Closes the spool, syncing what was written. spool_close(NULL) is fine. */
void spool_close(struct spool *s);

/* Appends one line (len bytes, ending in '\n'), then drops the oldest
 * segments while the spool is past its size. The data reaches the file
 * (a crash of the agent loses nothing) but not necessarily the disk: see
 * spool_sync(). Returns 0 or a negative errno. */
int spool_append(struct spool *s, const char *line, size_t len);

/* fdatasync()s the current segment if anything was appended since the last
 * sync. Returns 0 or a negative errno. */
int spool_sync(struct spool *s);

/* Bytes held now; lines dropped since the spool was created (persisted). */
uint64_t spool_bytes(const struct spool *s);
uint64_t spool_dropped(const struct spool *s);
