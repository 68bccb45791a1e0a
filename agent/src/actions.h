/* actions: the thread that carries out the device actions the server asks
 * for (isolate, release, collect_investigation_package, run_scan, offboard),
 * delivered by long-poll. See actions.c and docs/ACTIONS.md. */
#pragma once

#include "agent/src/agent.h"

struct agent_actions;
struct agent_config;
struct run_detect;

/* Puts back the isolation recorded in the state directory (after a reboot
 * the kernel forgot its rules). Call at start, before the network is used.
 * Returns 1 if the device is isolated, 0 if not, or a negative errno
 * (logged). */
int agent_actions_restore(const struct agent_state *st);

/* Starts the thread for the device in st; rd (may be NULL) gives the recent
 * events of an investigation package, cfg (may be NULL) is the
 * configuration the thread keeps in step with the server's (config.h);
 * both must outlive the thread. Returns 0 or a negative errno (logged; the
 * agent goes on without actions). */
int agent_actions_start(const struct agent_state *st, struct run_detect *rd, struct agent_config *cfg,
                        struct agent_actions **ret);

/* Stops the thread (within about a second) and frees; NULL is fine. */
void agent_actions_stop(struct agent_actions *a);
