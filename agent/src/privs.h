/* privs: once its sensor is attached, the agent keeps only the capabilities
 * it still uses. What it keeps and why is in docs/EVENTS.md ("Privileges"). */
#pragma once

#include <stddef.h>

/* Drops every capability but those in keep (CAP_* numbers) from the
 * effective, permitted, inheritable, ambient and bounding sets, and sets
 * no_new_privs, so neither this process nor anything it runs can regain
 * them. The uid stays as it is. Returns 0 or a negative errno with the
 * reason in err. */
int privs_keep_only(const int *keep, size_t n, char *err, size_t err_size);
