/* spool: lines the agent keeps on disk until the uplink has sent them
 * (alerts now; docs/DETECTION.md, "The spool").
 *
 * A spool is a directory of segment files NAME-SEQUENCE.jsonl (sequence: 20
 * decimal digits, rising), each one JSON object per line, appended to and
 * only rewritten to make room. A segment is closed past segment_bytes and
 * a new one begun; past max_bytes in all, lines are dropped (below) and
 * counted in NAME.dropped (a decimal number, replaced atomically) and by
 * severity in NAME.dropped-severity. A
 * line cut by a crash is left as it is and the next segment begun: a
 * reader skips a last line without its newline.
 *
 * The reader (the alert uplink, in another thread: every function here
 * locks the spool) reads from the acknowledged position on with
 * spool_read() and moves it with spool_ack(), which persists it in
 * NAME.ack ("SEQUENCE OFFSET", replaced atomically after an fsync) and
 * deletes the segments wholly before it. When the spool is full it makes
 * room oldest low-severity first: it rewrites the older segments without
 * their informational and low lines, then without their medium ones, and
 * only then deletes the oldest segments (docs/DETECTION.md, "Spool full").
 * Lines before the acknowledged position are kept byte for byte by a
 * rewrite, so the position stays valid; a rewrite or a deletion changes
 * the spool's generation, and an acknowledgement read under an older
 * generation is refused (the reader reads again; the server deduplicates).
 * The spool writes only to its newest segment and never rewrites it.
 *
 * When the disk refuses a write (full, over quota, an I/O error) nothing
 * is lost silently (docs/DETECTION.md, "Disk full"): a line cut half-way
 * is cut off again, and the line waits in memory (at most SPOOL_HELD_MAX
 * bytes; lower severities give way first, and a line that finds no room
 * is dropped, logged and counted) to be written, in order, at the next
 * append, sync or read. spool_read() offers the held lines too, at the
 * positions they will be written at, so they reach the server while the
 * disk is full; acknowledged, they leave memory. An acknowledged position
 * or a drop count the disk refused stays in memory and is saved at the
 * next sync; a rewrite that finds no room leaves the spool over its size
 * until the disk has room (segments are not deleted instead). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_SEGMENT_BYTES_DEFAULT (1u << 20)
#define SPOOL_MAX_BYTES_DEFAULT (64u << 20)
#define SPOOL_SEGMENTS_MAX 4096u        /* segments tracked; more are dropped at open */
#define SPOOL_NAME_MAX 32
#define SPOOL_READ_CHUNK (8u << 20)     /* bytes a read holds at once; longer lines are skipped */
#define SPOOL_HELD_MAX (8u << 20)       /* bytes of lines held in memory while the disk refuses them */

/* Drop counters by severity, indexed by the alert_severity value (1..4);
 * 0 counts lines without a known severity. */
#define SPOOL_SEVERITIES 5

struct spool;

/* Opens (creating dir with mode 0700 if needed) the spool NAME in dir,
 * holding at most max_bytes (0: the default) in segments of segment_bytes
 * (0: the default). Returns 0 or a negative errno. */
int spool_open(const char *dir, const char *name, size_t max_bytes, size_t segment_bytes,
               struct spool **ret);

/* Closes the spool, syncing what was written. spool_close(NULL) is fine. */
void spool_close(struct spool *s);

/* Appends one line (len bytes, ending in '\n' and holding no other) with
 * one write, after the lines held in memory, then makes room (oldest low
 * severity first, see above) while the spool is past its size. The data
 * reaches the file (a crash of the agent loses nothing) but not
 * necessarily the disk: see spool_sync(). When the disk refuses it the
 * line is held in memory (logged once until the disk has room again).
 * Returns 0 (written or held), -EINVAL for a line without its newline, or
 * the write's negative errno when the line was dropped (no room left to
 * hold it: logged and counted). */
int spool_append(struct spool *s, const char *line, size_t len);

/* Writes the lines held in memory if the disk has room again, saves what
 * the disk refused earlier (the acknowledged position, the drop counts),
 * then fdatasync()s the current segment if anything was appended since the
 * last sync. Returns 0 (lines still held too) or a negative errno. */
int spool_sync(struct spool *s);

/* Bytes held now; lines dropped since the spool was created (persisted). */
uint64_t spool_bytes(const struct spool *s);
uint64_t spool_dropped(const struct spool *s);

/* Bytes of lines held in memory because the disk refused them (not yet
 * acknowledged). */
uint64_t spool_held(const struct spool *s);

/* Lines dropped for space by severity (see SPOOL_SEVERITIES); ret must
 * hold SPOOL_SEVERITIES counters. */
void spool_dropped_by_severity(const struct spool *s, uint64_t ret[static SPOOL_SEVERITIES]);

/* A place in the spool: segment seq, byte offset off (a line start), and
 * the generation it was read under. */
struct spool_pos {
        uint64_t seq, off, gen;
};

/* Called for each whole line (len bytes with its '\n') by spool_read();
 * line is NULL for a line longer than SPOOL_READ_CHUNK, which is skipped
 * (len is its length). Returns 0 to take the line and go on, 1 to stop
 * before it (it is not taken). */
typedef int (*spool_line_fn)(const char *line, size_t len, void *userdata);

/* Writes the lines held in memory if the disk has room, then offers the
 * whole lines after the acknowledged position, oldest first (lines still
 * held in memory last), to fn (with the spool locked: fn must not call the spool), and writes in
 * *ret_end the position after the last line taken (past cut last lines of
 * older segments). Returns 0 or a negative errno. */
int spool_read(struct spool *s, spool_line_fn fn, void *userdata, struct spool_pos *ret_end);

/* Marks everything before pos (from spool_read) as delivered: syncs the
 * newest segment, persists pos, deletes the segments wholly before it;
 * held lines before pos leave memory (the position then moves to the
 * segment the others will be written to).
 * When the disk refuses the sync or the save, the position still moves
 * (the server has the lines) and is saved at the next acknowledgement or
 * sync (logged). Returns 0, or -ESTALE if the spool was rewritten since
 * pos was read (nothing changes; read again). */
int spool_ack(struct spool *s, const struct spool_pos *pos);

/* The acknowledged position. */
struct spool_pos spool_acked(const struct spool *s);

/* True if lines may wait after the acknowledged position. */
bool spool_pending(const struct spool *s);
