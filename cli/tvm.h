/* tvm: the CLI's vulnerability management commands ('vigil tvm ...'). */
#pragma once

struct cli;

/* tvm-import.c: 'vigil tvm import FILE|DIR [--feed osv|debian-tracker]
 * [--origin NAME] [--json]'; argv[0] is "import". Sends the feed to
 * POST /api/v1/tvm/import and prints what was imported. Returns the exit
 * code: 0, 1 (refused or unreachable, after printing why), 2 (usage). */
int cli_tvm_import(struct cli *c, int argc, char **argv);
