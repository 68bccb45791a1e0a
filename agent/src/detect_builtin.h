/* detect_builtin: detectors that Sigma cannot express, because they join
 * one event to a later one by a value the two share.
 *
 * "Downloaded then executed": a file created, modified or renamed in a
 * writable folder (/tmp, /var/tmp, /dev/shm, home directories, /run/user)
 * by a download tool (curl, wget, ...) or by a process that made an
 * outbound connection, and later executed. The files are remembered in a
 * bounded LRU (DETECT_BUILTIN_FILES_MAX, DETECT_BUILTIN_TTL_NS), the
 * processes that downloaded in another (DETECT_BUILTIN_PROCS_MAX). A
 * process counts as downloading when it connected before or after it
 * opened the file, and `curl URL > /tmp/x` is seen either way shells do
 * it: bash opens the file in the child that then becomes curl, dash in
 * itself just before its child becomes curl (a parent's file counts when
 * opened at most 2 s before the tool started). Sigma correlation rules
 * count or order events by grouping fields, but cannot join a file write's
 * TargetFilename to a later exec's Image, hence this. docs/DETECTION.md
 * says more. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/alert.h"
#include "agent/src/event.h"
#include "agent/src/proctable.h"

#define DETECT_BUILTIN_FILES_MAX 4096u
#define DETECT_BUILTIN_PROCS_MAX 4096u
#define DETECT_BUILTIN_TTL_NS (30ull * 60 * 1000000000ull)
#define DETECT_BUILTIN_PATH_KEEP 512    /* path bytes kept; longer ones are matched by hash */
#define DETECT_BUILTIN_WHY_MAX 32

/* The rule the "downloaded then executed" alerts carry. */
#define DETECT_BUILTIN_DOWNLOAD_EXEC_ID "8a4c2f17-5e3b-4d6a-9c81-2b7e0f3d6a95"
extern const struct alert_rule detect_builtin_download_exec;

/* What a detection found: the file and who wrote it. */
struct detect_builtin_hit {
        const struct alert_rule *rule;
        char path[DETECT_BUILTIN_PATH_KEEP];    /* as written; cut when longer */
        uint32_t writer_pid;
        uint64_t writer_start_ticks;
        char writer_comm[EV_COMM_MAX];
        char why[DETECT_BUILTIN_WHY_MAX];       /* "download tool curl", "outbound connection" */
        uint64_t written_mono_ns;
        int64_t written_wall_ns;
};

struct detect_builtin;

/* Creates the detectors' state with at most files_max remembered files and
 * procs_max downloading processes (0: the defaults), forgotten after ttl_ns
 * (0: DETECT_BUILTIN_TTL_NS). Returns NULL on ENOMEM. */
struct detect_builtin *detect_builtin_new(size_t files_max, size_t procs_max, uint64_t ttl_ns);
void detect_builtin_free(struct detect_builtin *b);

/* Feeds one event (pt, which may be NULL, already fed it). Returns 1 and
 * fills *ret when the event completes a detection, else 0. Allocates
 * nothing. */
int detect_builtin_feed(struct detect_builtin *b, const struct agent_event *ev,
                        const struct proctable *pt, struct detect_builtin_hit *ret);

/* True if path lies in a folder any user can write to or a home directory. */
bool detect_builtin_writable_path(const char *path);

/* True if the base name of image is a download tool (curl, wget, ...). */
bool detect_builtin_download_tool(const char *image);

/* Files and processes remembered now. */
size_t detect_builtin_files(const struct detect_builtin *b);
size_t detect_builtin_procs(const struct detect_builtin *b);
