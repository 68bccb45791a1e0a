/* event_fields: the one place where an agent_event and the process table
 * become named field values (EventType, Image, CommandLine, ParentImage,
 * DestinationIp, TargetFilename, ...).
 *
 * Both consumers read events through it: event_json.c turns every field an
 * event carries into a JSON member (what `vigil-agent events` prints), and
 * detection (detect.c) asks only for the fields its Sigma rules read, as
 * text. A value is computed when it is asked for, so detection pays only for
 * what its rules use, and it lives in a scratch arena of the context sized
 * once from the event caps: filling fields allocates nothing. The list of
 * fields, their order and their JSON types is EVENT_FIELDS below; their
 * meaning is docs/EVENTS.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/src/event.h"
#include "agent/src/proctable.h"

/* X(ENUM_SUFFIX, "JsonName", TYPE): every top-level scalar field, in the
 * order `vigil-agent events` prints them. The index is the field id that
 * detection's Sigma schema uses; appending keeps ids stable. */
#define EVENT_FIELDS(X) \
        X(EVENT_TYPE, "EventType", STRING) \
        X(CATEGORY, "Category", STRING) \
        X(SENSOR, "Sensor", STRING) \
        X(TIMESTAMP, "Timestamp", STRING) \
        X(MONOTONIC_NS, "MonotonicNs", INT) \
        X(PROCESS_ID, "ProcessId", INT) \
        X(THREAD_ID, "ThreadId", INT) \
        X(PROCESS_START_TICKS, "ProcessStartTicks", INT) \
        X(PARENT_PROCESS_ID, "ParentProcessId", INT) \
        X(UID, "Uid", INT) \
        X(EUID, "Euid", INT) \
        X(GID, "Gid", INT) \
        X(EGID, "Egid", INT) \
        X(USER, "User", STRING) \
        X(LOGON_ID, "LogonId", INT) \
        X(CGROUP_ID, "CgroupId", INT) \
        X(COMM, "Comm", STRING) \
        X(IMAGE, "Image", STRING) \
        X(COMMAND_LINE, "CommandLine", STRING) \
        X(COMMAND_LINE_TRUNCATED, "CommandLineTruncated", BOOL) \
        X(CURRENT_DIRECTORY, "CurrentDirectory", STRING) \
        X(PARENT_IMAGE, "ParentImage", STRING) \
        X(PARENT_COMMAND_LINE, "ParentCommandLine", STRING) \
        X(PARENT_UID, "ParentUid", INT) \
        X(PARENT_USER, "ParentUser", STRING) \
        X(IMAGE_IS_MEMFD, "ImageIsMemfd", BOOL) \
        X(IMAGE_DELETED, "ImageDeleted", BOOL) \
        X(IMAGE_TRUNCATED, "ImageTruncated", BOOL) \
        X(STDIN_IS_SOCKET, "StdinIsSocket", BOOL) \
        X(STDOUT_IS_SOCKET, "StdoutIsSocket", BOOL) \
        X(STDERR_IS_SOCKET, "StderrIsSocket", BOOL) \
        X(STDIN_IS_TTY, "StdinIsTty", BOOL) \
        X(STDOUT_IS_TTY, "StdoutIsTty", BOOL) \
        X(STDERR_IS_TTY, "StderrIsTty", BOOL) \
        X(CHILD_PROCESS_ID, "ChildProcessId", INT) \
        X(CHILD_PROCESS_START_TICKS, "ChildProcessStartTicks", INT) \
        X(EXIT_STATUS, "ExitStatus", INT) \
        X(EXIT_CODE, "ExitCode", INT) \
        X(EXIT_SIGNAL, "ExitSignal", INT) \
        X(OLD_UID, "OldUid", INT) \
        X(OLD_EUID, "OldEuid", INT) \
        X(NEW_UID, "NewUid", INT) \
        X(NEW_EUID, "NewEuid", INT) \
        X(OLD_GID, "OldGid", INT) \
        X(OLD_EGID, "OldEgid", INT) \
        X(NEW_GID, "NewGid", INT) \
        X(NEW_EGID, "NewEgid", INT) \
        X(CRED_CAUSE, "CredCause", STRING) \
        X(SOURCE_IMAGE, "SourceImage", STRING) \
        X(TARGET_PROCESS_ID, "TargetProcessId", INT) \
        X(TARGET_PROCESS_START_TICKS, "TargetProcessStartTicks", INT) \
        X(TARGET_IMAGE, "TargetImage", STRING) \
        X(TARGET_COMMAND_LINE, "TargetCommandLine", STRING) \
        X(TARGET_UID, "TargetUid", INT) \
        X(TARGET_USER, "TargetUser", STRING) \
        X(TARGET_IS_CHILD, "TargetIsChild", BOOL) \
        X(PTRACE_REQUEST, "PtraceRequest", INT) \
        X(PTRACE_REQUEST_NAME, "PtraceRequestName", STRING) \
        X(BYTES_WRITTEN, "BytesWritten", INT) \
        X(MEMFD_NAME, "MemfdName", STRING) \
        X(MEMFD_FLAGS, "MemfdFlags", INT) \
        X(INITIATED, "Initiated", STRING) \
        X(PROTOCOL, "Protocol", STRING) \
        X(SOURCE_IP, "SourceIp", STRING) \
        X(SOURCE_PORT, "SourcePort", INT) \
        X(SOURCE_IS_IPV6, "SourceIsIpv6", STRING) \
        X(DESTINATION_IP, "DestinationIp", STRING) \
        X(DESTINATION_PORT, "DestinationPort", INT) \
        X(DESTINATION_IS_IPV6, "DestinationIsIpv6", STRING) \
        X(TARGET_FILENAME, "TargetFilename", STRING)

#define EVENT_FIELD_ENUM_(id, name, type) EVENT_FIELD_##id,
enum event_field {
        EVENT_FIELDS(EVENT_FIELD_ENUM_)
        EVENT_FIELD_COUNT
};
#undef EVENT_FIELD_ENUM_

/* How a field is written in JSON. Detection sees every value as text:
 * numbers as decimal, booleans as "true"/"false". */
enum event_field_type {
        EVENT_FIELD_STRING = 1,
        EVENT_FIELD_INT = 2,
        EVENT_FIELD_BOOL = 3,
};

/* Field names by id (exact case), and their JSON types. */
extern const char *const event_field_names[EVENT_FIELD_COUNT];
extern const enum event_field_type event_field_types[EVENT_FIELD_COUNT];

/* The Sigma logsource categories the agent's events fall into; the values
 * are detection's Sigma category ids. */
enum event_category {
        EVENT_CATEGORY_PROCESS_CREATION = 0,    /* process_exec */
        EVENT_CATEGORY_NETWORK_CONNECTION = 1,  /* network_connect, network_accept */
        EVENT_CATEGORY_FILE_EVENT = 2,          /* file_create, file_modify, file_rename (the new name) */
        EVENT_CATEGORY_PROCESS_ACCESS = 3,      /* ptrace, process_vm_write, proc_mem_write */
        EVENT_CATEGORY_CREDENTIAL_CHANGE = 4,   /* credential_change */
        EVENT_CATEGORY_FILE_DELETE = 5,         /* file_delete: Sigma's own category, so that
                                                 * file_event rules (creation) never see a delete */
        EVENT_CATEGORY_COUNT
};

extern const char *const event_category_names[EVENT_CATEGORY_COUNT];

/* The category of an event, or -1 when it has none (fork, exit,
 * memfd_create). */
int event_category_of(const struct agent_event *ev);

/* The category id of a name ("process_creation"), or -ENOENT. */
int event_category_find(const char *name, size_t len);

/* One value. STRING: text (valid UTF-8) of len bytes at str, not
 * NUL-terminated, valid until event_fields_begin() or
 * event_fields_scratch_reset(); INT: num; BOOL: num is 0 or 1. */
struct event_value {
        enum event_field_type type;
        const char *str;
        size_t len;
        int64_t num;
};

struct event_fields;

/* A context for events of the named sensor ("bpf", "cnproc": the field
 * Sensor; the string must outlive the context). It holds a user-name cache
 * and its scratch arena. Returns NULL on ENOMEM. */
struct event_fields *event_fields_new(const char *sensor);
void event_fields_free(struct event_fields *f);

/* Changes the Sensor field (the string must outlive the context). */
void event_fields_sensor_set(struct event_fields *f, const char *sensor);

/* Starts reading ev: forgets the previous event's values and lookups. pt
 * (may be NULL) should already have been fed ev. ev and pt must stay
 * unchanged while values of this event are read. */
void event_fields_begin(struct event_fields *f, const struct agent_event *ev,
                        const struct proctable *pt);

/* The value of field id for the current event. Returns 0, or -ENOENT when
 * the event does not carry it (another event type, or unknown). */
int event_fields_value(struct event_fields *f, enum event_field id, struct event_value *ret);

/* The same value as text (numbers in decimal, booleans "true"/"false"),
 * pointing into the event, the table or the arena. Returns 0 or -ENOENT. */
int event_fields_text(struct event_fields *f, enum event_field id, const char **ret_str,
                      size_t *ret_len);

/* Empties the arena: every value returned so far becomes invalid. For a
 * caller that copies each value out at once (JSON) and so never needs the
 * arena to hold every field of an event. */
void event_fields_scratch_reset(struct event_fields *f);

/* The process table's entry for the current event's subject, or NULL. */
const struct proctable_proc *event_fields_self(struct event_fields *f);

/* The user name of uid (from the passwd database, cached 10 minutes in
 * EVENT_USER_CACHE slots), or the number as text when it has none. The
 * string stays valid until the next call. */
#define EVENT_USER_CACHE 64
const char *event_fields_user(struct event_fields *f, uint32_t uid);

/* Text of a process-table or event string made valid UTF-8 (each byte of an
 * invalid sequence becomes U+FFFD), and argv joined as CommandLine, in the
 * arena. n bytes at most, or up to a NUL. Return 0, or -ENOBUFS when the
 * arena is full (empty it with event_fields_scratch_reset()). */
int event_fields_utf8(struct event_fields *f, const char *s, size_t n, const char **ret_str,
                      size_t *ret_len);
int event_fields_cmdline(struct event_fields *f, const char *args, size_t args_len,
                         const char **ret_str, size_t *ret_len, bool *ret_truncated);

/* CommandLine is at most this long; a longer one is cut at a character
 * boundary and flagged CommandLineTruncated. */
#define EVENT_CMDLINE_MAX (4 * EV_ARGS_MAX)

/* Joins argv (args_len bytes of NUL-terminated entries) into out with
 * spaces; an entry that is empty or holds a space, tab, newline, quote or
 * backslash is wrapped in double quotes with '"' and '\' escaped by a
 * backslash. Bytes that are not UTF-8 become U+FFFD. Writes at most size-1
 * bytes and a NUL; sets *ret_truncated if the result was cut. Returns the
 * length written. */
size_t event_cmdline_join(const char *args, size_t args_len, char *out, size_t size,
                          bool *ret_truncated);

/* RFC 3339 UTC with nanoseconds ("2026-11-30T00:31:48.123456789Z") of a
 * CLOCK_REALTIME time in ns; 0 means now. */
#define EVENT_TIMESTAMP_MAX 40
void event_timestamp_format(int64_t wall_ns, char out[static EVENT_TIMESTAMP_MAX]);
