/* dfa: multi-literal automata for the matcher's index.
 *
 * One builder makes two kinds: an Aho-Corasick automaton, compiled into a
 * full DFA (every state has a transition for every byte class, so a run is
 * one table load per byte), and an anchored trie (missing transitions go to
 * a dead state, so a run stops as soon as no literal can still match; run
 * backwards over reversed literals it finds suffixes). Bytes that occur in
 * no literal share class 0, and the others get one class each, so a row is
 * a few dozen entries. A table entry holds the target state's row offset
 * (state * classes), so the hot loop is a load and an add per byte, and
 * states that report literals are numbered last, so it tests for a hit
 * with one comparison. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sigma/sigma-internal.h"

#define DFA_STATES_MAX (1u << 18)
#define DFA_ENTRIES_MAX (1u << 24)     /* 64 MiB of table */
#define DEAD 0u
#define ROOT 1u

struct sigma_dfa {
        uint8_t mode;
        uint8_t cls[256];
        uint32_t n_cls;
        uint32_t n_states;
        uint32_t first_hit;     /* row offsets >= this report literals */
        uint32_t *t;            /* [state * n_cls + class] = target * n_cls */
        uint32_t *out_first;    /* per state: its own literals in outs */
        uint32_t *out_n;
        uint32_t *dict;         /* AC: next state on the fail chain that reports, or DEAD */
        uint32_t *outs;
};

struct dfa_build {
        uint32_t *t;            /* n_states * n_cls, UINT32_MAX = none */
        uint32_t *fail;
        uint32_t *end_state;    /* per literal */
        uint32_t n_states;
};

void sigma_dfa_free(struct sigma_dfa *d)
{
        if (!d)
                return;
        free(d->t);
        free(d->out_first);
        free(d->out_n);
        free(d->dict);
        free(d->outs);
        free(d);
}

size_t sigma_dfa_bytes(const struct sigma_dfa *d)
{
        return sizeof(*d) + (size_t)d->n_states * d->n_cls * 4 + (size_t)d->n_states * 12;
}

static int build_trie(struct sigma_dfa *d, struct dfa_build *b, const char *const *lits, const uint32_t *lens,
                      uint32_t n)
{
        uint64_t total = 2;

        for (uint32_t i = 0; i < n; i++)
                total += lens[i];
        if (total > DFA_STATES_MAX || total * d->n_cls > DFA_ENTRIES_MAX)
                return -E2BIG;
        b->t = malloc(total * d->n_cls * sizeof(uint32_t));
        b->end_state = malloc((n + 1) * sizeof(uint32_t));
        if (!b->t || !b->end_state)
                return -ENOMEM;
        memset(b->t, 0xff, 2 * d->n_cls * sizeof(uint32_t));
        b->n_states = 2;
        for (uint32_t i = 0; i < n; i++) {
                uint32_t s = ROOT;

                for (uint32_t k = 0; k < lens[i]; k++) {
                        uint32_t *slot = &b->t[s * d->n_cls + d->cls[(unsigned char)lits[i][k]]];

                        if (*slot == UINT32_MAX) {
                                memset(&b->t[b->n_states * d->n_cls], 0xff, d->n_cls * sizeof(uint32_t));
                                *slot = b->n_states++;
                        }
                        s = *slot;
                }
                b->end_state[i] = s;
        }
        return 0;
}

/* Own outputs of each state, grouped. */
static int build_outputs(struct sigma_dfa *d, const struct dfa_build *b, uint32_t n)
{
        uint32_t ns = b->n_states, pos = 0;

        d->out_first = calloc(ns, sizeof(uint32_t));
        d->out_n = calloc(ns, sizeof(uint32_t));
        d->outs = malloc((n + 1) * sizeof(uint32_t));
        if (!d->out_first || !d->out_n || !d->outs)
                return -ENOMEM;
        for (uint32_t i = 0; i < n; i++)
                d->out_n[b->end_state[i]]++;
        for (uint32_t s = 0; s < ns; s++) {
                d->out_first[s] = pos;
                pos += d->out_n[s];
                d->out_n[s] = 0;
        }
        for (uint32_t i = 0; i < n; i++) {
                uint32_t s = b->end_state[i];

                d->outs[d->out_first[s] + d->out_n[s]++] = i;
        }
        return 0;
}

/* Fail links by breadth-first order, completing every row. */
static int build_ac(struct sigma_dfa *d, struct dfa_build *b)
{
        uint32_t ns = b->n_states, nc = d->n_cls, head = 0, tail = 0, *queue;

        queue = malloc(ns * sizeof(uint32_t));
        b->fail = calloc(ns, sizeof(uint32_t));
        d->dict = calloc(ns, sizeof(uint32_t));
        if (!queue || !b->fail || !d->dict) {
                free(queue);
                return -ENOMEM;
        }
        for (uint32_t c = 0; c < nc; c++) {
                uint32_t *slot = &b->t[ROOT * nc + c];

                if (*slot == UINT32_MAX) {
                        *slot = ROOT;
                } else {
                        b->fail[*slot] = ROOT;
                        queue[tail++] = *slot;
                }
        }
        while (head < tail) {
                uint32_t s = queue[head++], f = b->fail[s];

                d->dict[s] = d->out_n[f] ? f : d->dict[f];
                for (uint32_t c = 0; c < nc; c++) {
                        uint32_t *slot = &b->t[s * nc + c];

                        if (*slot == UINT32_MAX) {
                                *slot = b->t[f * nc + c];
                        } else {
                                b->fail[*slot] = b->t[f * nc + c];
                                queue[tail++] = *slot;
                        }
                }
        }
        for (uint32_t c = 0; c < nc; c++)
                b->t[DEAD * nc + c] = ROOT;
        free(queue);
        return 0;
}

/* Renumbers states so that reporting ones come last, into the final table. */
static int build_final(struct sigma_dfa *d, struct dfa_build *b)
{
        uint32_t ns = b->n_states, nc = d->n_cls, next = 0, *map, *tmp;
        bool ac = d->mode == SIGMA_DFA_AC;

        map = malloc(ns * sizeof(uint32_t));
        if (!map)
                return -ENOMEM;
        for (int pass = 0; pass < 2; pass++) {
                for (uint32_t s = 0; s < ns; s++) {
                        bool hit = d->out_n[s] || (ac && d->dict[s]);

                        if (hit == (pass == 1))
                                map[s] = next++;
                }
                if (pass == 0)
                        d->first_hit = next;
        }
        /* DEAD and ROOT report nothing, so pass 0 keeps them at 0 and 1 */
        d->t = malloc((size_t)ns * nc * sizeof(uint32_t));
        if (!d->t) {
                free(map);
                return -ENOMEM;
        }
        for (uint32_t s = 0; s < ns; s++)
                for (uint32_t c = 0; c < nc; c++) {
                        uint32_t to = b->t[s * nc + c];

                        d->t[(size_t)map[s] * nc + c] = (to == UINT32_MAX ? DEAD : map[to]) * nc;
                }
        d->first_hit *= nc;
        /* permute the per-state arrays */
        for (int k = 0; k < 3; k++) {
                uint32_t **arr = k == 0 ? &d->out_first : k == 1 ? &d->out_n : &d->dict;

                if (!*arr)
                        continue;
                tmp = malloc(ns * sizeof(uint32_t));
                if (!tmp) {
                        free(map);
                        return -ENOMEM;
                }
                for (uint32_t s = 0; s < ns; s++)
                        tmp[map[s]] = k == 2 && (*arr)[s] ? map[(*arr)[s]] : (*arr)[s];
                free(*arr);
                *arr = tmp;
        }
        d->n_states = ns;
        free(map);
        return 0;
}

int sigma_dfa_new(enum sigma_dfa_mode mode, const char *const *lits, const uint32_t *lens, uint32_t n,
                  struct sigma_dfa **ret)
{
        struct dfa_build b = { 0 };
        struct sigma_dfa *d = calloc(1, sizeof(*d));
        bool used[256] = { false };
        int r;

        if (!d)
                return -ENOMEM;
        d->mode = (uint8_t)mode;
        for (uint32_t i = 0; i < n; i++)
                for (uint32_t k = 0; k < lens[i]; k++)
                        used[(unsigned char)lits[i][k]] = true;
        d->n_cls = 1;
        for (int c = 0; c < 256; c++)
                d->cls[c] = used[c] ? (uint8_t)d->n_cls++ : 0;
        if (d->n_cls > 256) {
                /* every byte used: class 0 is a real byte too; 256 classes fit in uint8 only as 0..255 */
                for (int c = 0; c < 256; c++)
                        d->cls[c] = (uint8_t)c;
                d->n_cls = 256;
        }
        r = build_trie(d, &b, lits, lens, n);
        if (r >= 0)
                r = build_outputs(d, &b, n);
        if (r >= 0 && mode == SIGMA_DFA_AC)
                r = build_ac(d, &b);
        if (r >= 0)
                r = build_final(d, &b);
        free(b.t);
        free(b.fail);
        free(b.end_state);
        if (r < 0) {
                sigma_dfa_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

static void report(const struct sigma_dfa *d, uint32_t s, uint32_t pos, sigma_dfa_hit_fn fn, void *ud)
{
        do {
                for (uint32_t k = 0; k < d->out_n[s]; k++)
                        fn(d->outs[d->out_first[s] + k], pos, ud);
                s = d->dict ? d->dict[s] : DEAD;
        } while (s != DEAD);
}

void sigma_dfa_run(const struct sigma_dfa *d, const char *str, uint32_t len, bool reverse,
                   sigma_dfa_hit_fn fn, void *userdata)
{
        const unsigned char *s = (const unsigned char *)str;
        const uint32_t nc = d->n_cls, hit = d->first_hit, *t = d->t;
        const uint8_t *cls = d->cls;
        uint32_t st = ROOT * nc;

        if (d->mode == SIGMA_DFA_AC) {
                for (uint32_t i = 0; i < len; i++) {
                        st = t[st + cls[s[i]]];
                        if (__builtin_expect(st >= hit, 0))
                                report(d, st / nc, i + 1, fn, userdata);
                }
        } else if (!reverse) {
                for (uint32_t i = 0; i < len; i++) {
                        st = t[st + cls[s[i]]];
                        if (st == DEAD)
                                return;
                        if (st >= hit)
                                report(d, st / nc, i + 1, fn, userdata);
                }
        } else {
                for (uint32_t i = len; i-- > 0;) {
                        st = t[st + cls[s[i]]];
                        if (st == DEAD)
                                return;
                        if (st >= hit)
                                report(d, st / nc, i, fn, userdata);
                }
        }
}
