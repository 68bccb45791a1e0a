/* A stand-in for libFuzzer in ordinary builds: feeds every file named on the
 * command line (or every file of a named directory) to LLVMFuzzerTestOneInput,
 * then a bounded number of mutations of each, so the harnesses run as
 * regression tests under the sanitizer build. With -Dfuzz=true the same
 * harnesses link against libFuzzer instead, for real fuzzing. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATIONS_PER_INPUT 2000
#define INPUT_MAX (1024 * 1024)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
        size_t n = *len, pos = n ? rng() % n : 0;

        switch (rng() % 5) {
        case 0: /* flip a byte */
                if (n)
                        buf[pos] = (uint8_t)rng();
                break;
        case 1: /* truncate */
                *len = pos;
                break;
        case 2: /* insert an interesting byte */
                if (n < cap) {
                        static const uint8_t bytes[] = { 0, '"', '\\', '{', '}', '[', ']', ':', ',',
                                                         '\n', ' ', '.', '(', ')', 0xff, 0x80 };
                        memmove(buf + pos + 1, buf + pos, n - pos);
                        buf[pos] = bytes[rng() % sizeof(bytes)];
                        *len = n + 1;
                }
                break;
        case 3: /* duplicate a chunk */
                if (n && n * 2 <= cap) {
                        size_t k = rng() % (n - pos) + 1;
                        memmove(buf + pos + k, buf + pos, n - pos);
                        *len = n + k;
                }
                break;
        default: /* delete a chunk */
                if (n) {
                        size_t k = rng() % (n - pos) + 1;
                        memmove(buf + pos, buf + pos + k, n - pos - k);
                        *len = n - k;
                }
                break;
        }
}

static int run_file(const char *path)
{
        uint8_t *work;
        char *data;
        size_t len;
        int r;

        r = util_file_read(path, INPUT_MAX, &data, &len);
        if (r < 0) {
                fprintf(stderr, "cannot read '%s': %s\n", path, strerror(-r));
                return -1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        work = malloc(INPUT_MAX);
        if (!work) {
                free(data);
                return -1;
        }
        for (int i = 0; i < MUTATIONS_PER_INPUT; i++) {
                size_t wl = len;
                int rounds = 1 + (int)(rng() % 4);
                memcpy(work, data, len);
                while (rounds--)
                        mutate(work, &wl, INPUT_MAX);
                LLVMFuzzerTestOneInput(work, wl);
        }
        free(work);
        free(data);
        return 0;
}

int main(int argc, char **argv)
{
        int files = 0;

        for (int i = 1; i < argc; i++) {
                struct stat st;
                DIR *d;
                struct dirent *de;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "cannot stat '%s': %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (run_file(argv[i]) < 0)
                                return 1;
                        files++;
                        continue;
                }
                d = opendir(argv[i]);
                if (!d)
                        return 1;
                while ((de = readdir(d))) {
                        char path[4096];
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
                        if (run_file(path) < 0) {
                                closedir(d);
                                return 1;
                        }
                        files++;
                }
                closedir(d);
        }
        if (files == 0) {
                fprintf(stderr, "no corpus files given\n");
                return 1;
        }
        printf("%d corpus files, %d mutations each: no crash\n", files, MUTATIONS_PER_INPUT);
        return 0;
}
