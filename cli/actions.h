/* actions: the device actions of the CLI (see actions.c). */
#pragma once

#include <stdbool.h>

#include "cli/cli.h"

/* True if verb is a device action of 'vigil devices' (isolate, release,
 * collect, scan, offboard). */
bool cli_is_device_action(const char *verb);

/* 'vigil devices VERB ID --comment TEXT ...': argv[0] is the verb. */
int cli_device_action(struct cli *c, int argc, char **argv);

/* 'vigil actions VERB ...': argv[0] is the verb. */
int cli_actions(struct cli *c, int argc, char **argv);
extern const char cli_actions_usage[];
