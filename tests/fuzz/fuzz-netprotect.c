/* Fuzzes the network protection policy parser (netprotect_policy_parse):
 * any input gives -EINVAL / -E2BIG with a message, or a policy of at most
 * NETPROTECT_ENTRIES_MAX canonical entries, none covering loopback, whose
 * canonical text parses again to the same text and whose nft script
 * builds. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/src/netprotect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The canonical entries of p as a policy document. Returns heap text. */
static char *canonical(const struct netprotect_policy *p)
{
        json_t *block = json_array(), *j = json_pack("{s:o,s:b}", "block", block, "audit_only", p->audit_only);
        char t[NETPROTECT_ENTRY_MAX], *text;

        for (size_t i = 0; i < p->n; i++) {
                netprotect_entry_text(&p->entries[i], t);
                json_array_append_new(block, json_string(t));
        }
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct netprotect_policy *p = NULL, *q = NULL;
        char err[512] = "", *text, *again = NULL, *script = NULL;
        int r;

        r = netprotect_policy_parse((const char *)data, size, &p, err, sizeof(err));
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG) || err[0] == '\0' || p)
                        abort();
                return 0;
        }
        if (p->n > NETPROTECT_ENTRIES_MAX)
                abort();
        for (size_t i = 0; i < p->n; i++) {
                const struct netprotect_entry *e = &p->entries[i];

                if (e->kind != NETPROTECT_DOMAIN && (e->prefix == 0 || e->prefix > (e->kind == NETPROTECT_IPV4 ? 32u : 128u)))
                        abort();
                if (e->kind == NETPROTECT_IPV4 && e->addr[0] == 127)
                        abort();
                if (e->kind == NETPROTECT_DOMAIN && (strlen(e->name) > NETPROTECT_NAME_MAX || !strchr(e->name, '.')))
                        abort();
        }
        text = canonical(p);
        if (!text || netprotect_policy_parse(text, strlen(text), &q, err, sizeof(err)) != 0 || q->n != p->n)
                abort();
        again = canonical(q);
        if (!again || strcmp(again, text) != 0)
                abort();
        if (netprotect_script_build(p, NULL, 0, &script, 16u << 20) != 0 || !strstr(script, "vigil_netprotect"))
                abort();
        free(script);
        free(again);
        free(text);
        netprotect_policy_free(q);
        netprotect_policy_free(p);
        return 0;
}
