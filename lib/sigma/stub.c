/* TEMPORARY: replaced by the engine; lets the agent link meanwhile. */
#include <errno.h>
#include "sigma/sigma.h"
int sigma_ruleset_new(const struct sigma_schema *schema, struct sigma_ruleset **ret) { return -ENOSYS; }
void sigma_ruleset_free(struct sigma_ruleset *rs) {}
int sigma_ruleset_add_buffer(struct sigma_ruleset *rs, const char *name, const char *buf, size_t len, sigma_diag_fn fn, void *u) { return -ENOSYS; }
int sigma_ruleset_add_file(struct sigma_ruleset *rs, const char *path, sigma_diag_fn fn, void *u) { return -ENOSYS; }
int sigma_ruleset_add_dir(struct sigma_ruleset *rs, const char *dir, sigma_diag_fn fn, void *u) { return -ENOSYS; }
size_t sigma_ruleset_count(const struct sigma_ruleset *rs) { return 0; }
const struct sigma_rule *sigma_ruleset_rule(const struct sigma_ruleset *rs, size_t i) { return 0; }
int sigma_ruleset_field_id(const struct sigma_ruleset *rs, const char *name) { return -ENOENT; }
const char *sigma_rule_id(const struct sigma_rule *r) { return ""; }
const char *sigma_rule_title(const struct sigma_rule *r) { return ""; }
const char *sigma_rule_status(const struct sigma_rule *r) { return ""; }
const char *sigma_rule_description(const struct sigma_rule *r) { return ""; }
const char *sigma_rule_file(const struct sigma_rule *r) { return ""; }
unsigned sigma_rule_line(const struct sigma_rule *r) { return 0; }
enum sigma_level sigma_rule_level(const struct sigma_rule *r) { return SIGMA_LEVEL_MEDIUM; }
uint32_t sigma_rule_category(const struct sigma_rule *r) { return 0; }
size_t sigma_rule_tag_count(const struct sigma_rule *r) { return 0; }
const char *sigma_rule_tag(const struct sigma_rule *r, size_t i) { return ""; }
size_t sigma_rule_unknown_field_count(const struct sigma_rule *r) { return 0; }
const char *sigma_rule_unknown_field(const struct sigma_rule *r, size_t i) { return ""; }
const char *sigma_level_name(enum sigma_level l) { return ""; }
int sigma_matcher_new(const struct sigma_ruleset *rs, unsigned flags, struct sigma_matcher **ret) { return -ENOSYS; }
void sigma_matcher_free(struct sigma_matcher *m) {}
bool sigma_matcher_field_used(const struct sigma_matcher *m, uint32_t c, uint32_t f) { return false; }
int sigma_scratch_new(const struct sigma_matcher *m, struct sigma_scratch **ret) { return -ENOSYS; }
void sigma_scratch_free(struct sigma_scratch *s) {}
int sigma_matcher_match(const struct sigma_matcher *m, struct sigma_scratch *s, const struct sigma_event *ev, sigma_match_fn fn, void *u) { return -ENOSYS; }
