/* log: timestamped lines on stderr. See log.h. */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "util/strutil.h"

static enum log_level max_level = LOG_LVL_INFO;

void log_set_level(enum log_level level)
{
        max_level = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
        static const char *const names[] = { "error", "warning", "info", "debug" };
        char line[1100];
        va_list ap;

        if (level > max_level)
                return;
        va_start(ap, fmt);
        util_log_line_vformat(line, sizeof(line), names[level], fmt, ap);
        va_end(ap);
        /* one write per line, so lines from several threads do not interleave */
        fputs(line, stderr);
}
