/* Identity file loader and longest-prefix lookup (see include/flowscope/enrich/identity.h).
 *
 * The file is read with libyaml's event API rather than its document API so that every error
 * carries the line of the exact key or value at fault, and so that plain scalars can be told
 * apart from quoted ones (an unquoted 123 is a number, not a string, in YAML and in JSON).
 * Entries live in one array; one open-addressing hash table keyed by (family, prefix length,
 * masked address) indexes them, and a lookup probes it once per prefix length present in the
 * file, longest first. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "flowscope/base/hash.h"
#include "flowscope/base/parse.h"
#include "flowscope/enrich/identity.h"

#define MAX_ENTRIES 100000
/* Far above what MAX_ENTRIES entries need; only there to refuse reading /dev/zero forever. */
#define MAX_FILE_BYTES (256u << 20)

struct entry {
	struct identity id;
	uint8_t addr[16]; /* masked to plen; an IPv4 address uses the first 4 bytes, rest zero */
	uint8_t family;	  /* 4 or 6 */
	uint8_t plen;
	size_t line;	       /* of the cidr/ip value, to name both lines of a duplicate */
	bool explicit_numeric; /* id.numeric was given in the file */
};

struct identity_table {
	struct entry *entries;
	size_t n, cap;
	uint32_t *slots; /* entry index + 1; 0 marks an empty slot */
	size_t n_slots;	 /* a power of two, at least twice n */
	bool present[2][129];
	uint8_t plens[2][129]; /* prefix lengths present per family (0: IPv4, 1: IPv6), longest
				  first */
	size_t n_plens[2];
};

struct loader {
	const char *path;
	const char *buf;
	size_t len;
	yaml_parser_t parser;
	yaml_event_t ev; /* the current event, valid while have_ev */
	bool have_ev;
	struct errmsg *e; /* NULL: no message wanted */
	struct identity_table *t;
};

/* ---- errors --------------------------------------------------------------------------------- */

static void set_err(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (!ld->e)
		return;
	va_start(ap, fmt);
	vsnprintf(ld->e->text, sizeof(ld->e->text), fmt, ap);
	va_end(ap);
}

/* Reports "path:line: message" and returns -EINVAL. */
static int fail(struct loader *ld, size_t line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct loader *ld, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ld->e)
		return -EINVAL;
	n = snprintf(ld->e->text, sizeof(ld->e->text), "%s:%zu: ", ld->path, line);
	if (n >= 0 && (size_t)n < sizeof(ld->e->text)) {
		va_start(ap, fmt);
		vsnprintf(ld->e->text + n, sizeof(ld->e->text) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int oom(struct loader *ld)
{
	set_err(ld, "%s: out of memory", ld->path);
	return -ENOMEM;
}

static int syntax_error(struct loader *ld)
{
	const yaml_parser_t *p = &ld->parser;
	const char *problem = p->problem ? p->problem : "cannot parse";
	size_t line = 1, i;

	if (p->error == YAML_MEMORY_ERROR)
		return oom(ld);
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors (bad encoding) carry a byte offset, not a mark. */
		for (i = 0; i < p->problem_offset && i < ld->len; i++)
			line += ld->buf[i] == '\n';
		if (p->problem_value != -1)
			return fail(ld, line, "syntax error: %s (byte 0x%02x)", problem,
				    (unsigned)p->problem_value);
		return fail(ld, line, "syntax error: %s", problem);
	}
	/* Something left open (a quote, a bracket) is reported at the end of the file; the line
	 * where it was opened is the one to fix. */
	if (p->context && strstr(problem, "end of stream"))
		return fail(ld, p->context_mark.line + 1,
			    "syntax error: %s %s; it starts here and is never closed", problem,
			    p->context);
	if (p->context)
		return fail(ld, p->problem_mark.line + 1, "syntax error: %s (%s at line %zu)",
			    problem, p->context, p->context_mark.line + 1);
	return fail(ld, p->problem_mark.line + 1, "syntax error: %s", problem);
}

/* ---- events --------------------------------------------------------------------------------- */

static size_t ev_line(const struct loader *ld)
{
	return ld->ev.start_mark.line + 1;
}

static const char *ev_str(const struct loader *ld)
{
	return (const char *)ld->ev.data.scalar.value;
}

static int next(struct loader *ld)
{
	if (ld->have_ev) {
		yaml_event_delete(&ld->ev);
		ld->have_ev = false;
	}
	if (!yaml_parser_parse(&ld->parser, &ld->ev))
		return syntax_error(ld);
	ld->have_ev = true;
	if (ld->ev.type == YAML_ALIAS_EVENT)
		return fail(ld, ev_line(ld), "aliases (*%s) are not supported; write the value out",
			    (const char *)ld->ev.data.alias.anchor);
	return 0;
}

enum scalar_type { T_STR, T_NULL, T_BOOL, T_NUM, T_TAGGED };

static bool all_of(const char *s, const char *set)
{
	return *s && s[strspn(s, set)] == '\0';
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? and the YAML spellings of inf/nan. */
static bool is_float(const char *s)
{
	bool digits = false;

	if (*s == '-' || *s == '+')
		s++;
	if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF"))
		return true;
	while (isdigit((unsigned char)*s)) {
		s++;
		digits = true;
	}
	if (*s == '.') {
		s++;
		while (isdigit((unsigned char)*s)) {
			s++;
			digits = true;
		}
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

/* What an untagged plain scalar means under the YAML 1.2 core schema (a superset of JSON's). */
static enum scalar_type scalar_type(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;

	if (tag)
		return !strcmp(tag, "!") || !strcmp(tag, YAML_STR_TAG) ? T_STR : T_TAGGED;
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return T_STR;
	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return T_NULL;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") || !strcmp(s, "false") ||
	    !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return T_BOOL;
	if (!strncmp(s, "0o", 2) && all_of(s + 2, "01234567"))
		return T_NUM;
	if (!strncmp(s, "0x", 2) && all_of(s + 2, "0123456789abcdefABCDEF"))
		return T_NUM;
	if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN") || is_float(s))
		return T_NUM;
	return T_STR;
}

static bool is_null(const struct loader *ld)
{
	return ld->ev.type == YAML_SCALAR_EVENT && scalar_type(&ld->ev) == T_NULL;
}

static const char *kind(const struct loader *ld)
{
	switch (ld->ev.type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_SCALAR_EVENT:
		switch (scalar_type(&ld->ev)) {
		case T_NULL:
			return "null";
		case T_BOOL:
			return "a boolean";
		case T_NUM:
			return "a number";
		default:
			return "a string";
		}
	default:
		return "something else";
	}
}

/* Checks that the current event is a string; what names it in messages ("'pod'"). */
static int expect_string(struct loader *ld, const char *what)
{
	enum scalar_type type;

	if (ld->ev.type != YAML_SCALAR_EVENT)
		return fail(ld, ev_line(ld), "%s must be a string, not %s", what, kind(ld));
	type = scalar_type(&ld->ev);
	if (type == T_NULL)
		return fail(ld, ev_line(ld), "%s has no value", what);
	if (type == T_TAGGED)
		return fail(ld, ev_line(ld), "%s: unsupported tag '%s'; remove it", what,
			    (const char *)ld->ev.data.scalar.tag);
	if (type != T_STR)
		return fail(ld, ev_line(ld), "%s must be a string, not %s; quote it: \"%s\"", what,
			    kind(ld), ev_str(ld));
	if (strlen(ev_str(ld)) != ld->ev.data.scalar.length)
		return fail(ld, ev_line(ld), "%s contains a NUL character", what);
	return 0;
}

static int copy_field(struct loader *ld, const char *what, char *dst, size_t cap)
{
	int rc = expect_string(ld, what);

	if (rc)
		return rc;
	if (ld->ev.data.scalar.length >= cap)
		return fail(ld, ev_line(ld), "%s is %zu bytes long; at most %zu are allowed", what,
			    ld->ev.data.scalar.length, cap - 1);
	memcpy(dst, ev_str(ld), ld->ev.data.scalar.length + 1);
	return 0;
}

/* ---- addresses ------------------------------------------------------------------------------ */

static void mask_addr(uint8_t dst[16], const uint8_t src[16], unsigned nbytes, unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;

	memset(dst, 0, 16);
	memcpy(dst, src, full);
	if (rest && full < nbytes)
		dst[full] = src[full] & (uint8_t)(0xff << (8 - rest));
}

/* Parses the current scalar as "ip" (no prefix length) or "cidr" (prefix length required, no
 * bits set past it) into e, with the parser every front end uses (base/parse.h). */
static int parse_addr(struct loader *ld, bool cidr, struct entry *e)
{
	const char *s = ev_str(ld), *kw = cidr ? "cidr" : "ip";
	char shown[INET6_ADDRSTRLEN];
	struct cidr c, m;
	int rc = parse_cidr(s, &c);

	if (rc == -EINVAL)
		return fail(ld, ev_line(ld), "invalid %s '%.64s': not an IPv4 or IPv6 address", kw,
			    s);
	if (!cidr && (rc || c.has_len))
		return fail(
			ld, ev_line(ld),
			"invalid ip '%.64s': an ip takes no prefix length; use 'cidr' for prefixes",
			s);
	if (cidr && !rc && !c.has_len)
		return fail(
			ld, ev_line(ld),
			"invalid cidr '%.64s': no '/' and prefix length; use 'ip' for a single address",
			s);
	if (rc)
		return fail(ld, ev_line(ld), "invalid cidr '%.64s': prefix length must be 0..%u", s,
			    c.family == 6 ? 128u : 32u);
	cidr_masked(&c, &m);
	if (memcmp(m.addr, c.addr, 16)) {
		inet_ntop(c.family == 4 ? AF_INET : AF_INET6, m.addr, shown, sizeof(shown));
		return fail(
			ld, ev_line(ld),
			"invalid cidr '%.64s': address bits set past the prefix length; did you mean "
			"%s/%u?",
			s, shown, c.bits);
	}
	memcpy(e->addr, m.addr, 16);
	e->family = c.family;
	e->plen = c.bits;
	return 0;
}

/* ---- table ---------------------------------------------------------------------------------- */

static uint64_t key_hash(unsigned family, unsigned plen, const uint8_t addr[16])
{
	uint64_t lo, hi;

	memcpy(&lo, addr, 8);
	memcpy(&hi, addr + 8, 8);
	return hash_mix64(lo ^ hash_mix64(hi ^ ((uint64_t)family << 8 | plen)));
}

/* Slot holding (family, plen, addr), or the empty slot where it would go. */
static size_t find_slot(const struct identity_table *t, unsigned family, unsigned plen,
			const uint8_t addr[16])
{
	size_t mask = t->n_slots - 1, i = key_hash(family, plen, addr) & mask;
	const struct entry *e;

	for (; t->slots[i]; i = (i + 1) & mask) {
		e = &t->entries[t->slots[i] - 1];
		if (e->family == family && e->plen == plen && !memcmp(e->addr, addr, 16))
			break;
	}
	return i;
}

static int grow_slots(struct identity_table *t)
{
	size_t n = t->n_slots ? t->n_slots * 2 : 64, i;
	uint32_t *old = t->slots;
	const struct entry *e;

	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->n_slots = n;
	for (i = 0; i < t->n; i++) {
		e = &t->entries[i];
		t->slots[find_slot(t, e->family, e->plen, e->addr)] = (uint32_t)(i + 1);
	}
	free(old);
	return 0;
}

/* Takes e (and its labels) into the table, or leaves it to the caller on error. */
static int table_add(struct loader *ld, struct entry *e)
{
	struct identity_table *t = ld->t;
	char shown[INET6_ADDRSTRLEN];
	struct entry *grown;
	size_t i;

	if (t->n == t->cap) {
		grown = realloc(t->entries, (t->cap ? t->cap * 2 : 64) * sizeof(*grown));
		if (!grown)
			return oom(ld);
		t->entries = grown;
		t->cap = t->cap ? t->cap * 2 : 64;
	}
	if ((t->n + 1) * 2 > t->n_slots && grow_slots(t))
		return oom(ld);
	i = find_slot(t, e->family, e->plen, e->addr);
	if (t->slots[i]) {
		inet_ntop(e->family == 4 ? AF_INET : AF_INET6, e->addr, shown, sizeof(shown));
		return fail(ld, e->line, "duplicate prefix %s/%u (already given at line %zu)",
			    shown, e->plen, t->entries[t->slots[i] - 1].line);
	}
	t->entries[t->n] = *e;
	t->slots[i] = (uint32_t)++t->n;
	t->present[e->family == 6][e->plen] = true;
	return 0;
}

static void free_labels(struct identity *id)
{
	size_t i;

	for (i = 0; i < id->n_labels; i++)
		free(id->labels[i]);
	free(id->labels);
	id->labels = NULL;
	id->n_labels = 0;
}

/* ---- file structure ------------------------------------------------------------------------- */

struct label {
	char *kv; /* "key=value" */
	size_t line;
};

struct labels {
	struct label *v;
	size_t n, cap;
};

static int labels_push(struct loader *ld, struct labels *ls, const char *key, size_t klen,
		       const char *val, size_t vlen, size_t line)
{
	struct label *grown;
	char *kv;

	if (ls->n == ls->cap) {
		grown = realloc(ls->v, (ls->cap ? ls->cap * 2 : 8) * sizeof(*grown));
		if (!grown)
			return oom(ld);
		ls->v = grown;
		ls->cap = ls->cap ? ls->cap * 2 : 8;
	}
	kv = malloc(klen + vlen + 2);
	if (!kv)
		return oom(ld);
	memcpy(kv, key, klen);
	kv[klen] = '=';
	memcpy(kv + klen + 1, val, vlen);
	kv[klen + 1 + vlen] = '\0';
	ls->v[ls->n].kv = kv;
	ls->v[ls->n].line = line;
	ls->n++;
	return 0;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct label *)a)->kv, ((const struct label *)b)->kv);
}

static size_t key_len(const char *kv)
{
	return (size_t)(strchr(kv, '=') - kv);
}

/* Labels as a mapping {k: v} or a list ["k=v"], stored sorted as "k=v" strings. */
static int parse_labels(struct loader *ld, struct identity *id)
{
	struct labels ls = {0};
	size_t i, klen, line, dup = 0, dup_line = 0;
	char *key = NULL, what[96];
	const char *eq;
	int rc = 0;

	if (is_null(ld))
		return 0;
	if (ld->ev.type == YAML_MAPPING_START_EVENT) {
		while (!(rc = next(ld)) && ld->ev.type != YAML_MAPPING_END_EVENT) {
			if ((rc = expect_string(ld, "a label key")))
				break;
			if (!ld->ev.data.scalar.length || strchr(ev_str(ld), '=')) {
				rc = fail(
					ld, ev_line(ld),
					"invalid label key '%.64s': it must be non-empty and without '='",
					ev_str(ld));
				break;
			}
			klen = ld->ev.data.scalar.length;
			key = strdup(ev_str(ld));
			if (!key) {
				rc = oom(ld);
				break;
			}
			snprintf(what, sizeof(what), "label '%.64s'", key);
			if ((rc = next(ld)) || (rc = expect_string(ld, what)))
				break;
			if ((rc = labels_push(ld, &ls, key, klen, ev_str(ld),
					      ld->ev.data.scalar.length, ev_line(ld))))
				break;
			free(key);
			key = NULL;
		}
	} else if (ld->ev.type == YAML_SEQUENCE_START_EVENT) {
		while (!(rc = next(ld)) && ld->ev.type != YAML_SEQUENCE_END_EVENT) {
			if ((rc = expect_string(ld, "a label")))
				break;
			eq = strchr(ev_str(ld), '=');
			if (!eq || eq == ev_str(ld)) {
				rc = fail(ld, ev_line(ld),
					  "invalid label '%.64s': write it as key=value",
					  ev_str(ld));
				break;
			}
			klen = (size_t)(eq - ev_str(ld));
			if ((rc = labels_push(ld, &ls, ev_str(ld), klen, eq + 1,
					      ld->ev.data.scalar.length - klen - 1, ev_line(ld))))
				break;
		}
	} else {
		rc = fail(ld, ev_line(ld),
			  "'labels' must be a mapping (key: value) or a list of \"key=value\", not "
			  "%s",
			  kind(ld));
	}
	free(key);
	if (!rc && ls.n) {
		qsort(ls.v, ls.n, sizeof(*ls.v), label_cmp);
		/* Equal keys sort next to each other; report the duplicate that comes first in the
		 * file, at the line of its second occurrence. */
		for (i = 1; i < ls.n; i++) {
			klen = key_len(ls.v[i].kv);
			if (klen != key_len(ls.v[i - 1].kv) ||
			    memcmp(ls.v[i].kv, ls.v[i - 1].kv, klen))
				continue;
			line = ls.v[i].line > ls.v[i - 1].line ? ls.v[i].line : ls.v[i - 1].line;
			if (!dup_line || line < dup_line) {
				dup = i;
				dup_line = line;
			}
		}
		if (dup_line)
			rc = fail(ld, dup_line, "duplicate label '%.*s'",
				  (int)key_len(ls.v[dup].kv), ls.v[dup].kv);
	}
	if (!rc && ls.n) {
		id->labels = malloc(ls.n * sizeof(*id->labels));
		if (!id->labels)
			rc = oom(ld);
	}
	if (!rc) {
		for (i = 0; i < ls.n; i++)
			id->labels[i] = ls.v[i].kv;
		id->n_labels = ls.n;
	} else {
		for (i = 0; i < ls.n; i++)
			free(ls.v[i].kv);
	}
	free(ls.v);
	return rc;
}

/* "workload: NAME" or "workload: {name: NAME, kind: KIND}"; a kind given both there and as
 * workload_kind is refused. */
static int parse_workload(struct loader *ld, struct identity *id, bool *kind_given)
{
	size_t seen[2] = {0, 0};
	int rc, k;

	if (ld->ev.type != YAML_MAPPING_START_EVENT)
		return copy_field(ld, "'workload'", id->workload, sizeof(id->workload));
	while (!(rc = next(ld)) && ld->ev.type != YAML_MAPPING_END_EVENT) {
		if ((rc = expect_string(ld, "a workload key")))
			return rc;
		k = !strcmp(ev_str(ld), "name") ? 0 : !strcmp(ev_str(ld), "kind") ? 1 : -1;
		if (k < 0)
			return fail(ld, ev_line(ld),
				    "unknown workload key '%.64s' (expected name or kind)",
				    ev_str(ld));
		if (seen[k])
			return fail(ld, ev_line(ld), "duplicate key '%s' (first at line %zu)",
				    k ? "kind" : "name", seen[k]);
		seen[k] = ev_line(ld);
		if ((rc = next(ld)))
			return rc;
		rc = k ? copy_field(ld, "'workload' kind", id->workload_kind,
				    sizeof(id->workload_kind))
		       : copy_field(ld, "'workload' name", id->workload, sizeof(id->workload));
		if (rc)
			return rc;
	}
	if (!rc && !seen[0])
		return fail(ld, ev_line(ld), "'workload' has no 'name'; add the workload's name");
	*kind_given = seen[1] != 0;
	return rc;
}

/* An explicit numeric identity: a whole number (quoted or not) from 256 to 16777215. */
static int parse_numeric(struct loader *ld, struct entry *e)
{
	enum scalar_type type = ld->ev.type == YAML_SCALAR_EVENT ? scalar_type(&ld->ev) : T_TAGGED;
	uint64_t v;

	if (ld->ev.type != YAML_SCALAR_EVENT || (type != T_NUM && type != T_STR) ||
	    parse_u64(ev_str(ld), IDENTITY_NUMERIC_MAX, &v) || v < IDENTITY_NUMERIC_MIN)
		return fail(
			ld, ev_line(ld),
			"invalid 'identity' %s%.64s%s: use a whole number from %u to %u (0-255 are "
			"Cilium's reserved identities)",
			ld->ev.type == YAML_SCALAR_EVENT ? "'" : "",
			ld->ev.type == YAML_SCALAR_EVENT ? ev_str(ld) : kind(ld),
			ld->ev.type == YAML_SCALAR_EVENT ? "'" : "", IDENTITY_NUMERIC_MIN,
			IDENTITY_NUMERIC_MAX);
	e->id.numeric = (uint32_t)v;
	e->explicit_numeric = true;
	return 0;
}

enum {
	K_CIDR,
	K_IP,
	K_NAMESPACE,
	K_POD,
	K_SERVICE,
	K_LABELS,
	K_WORKLOAD,
	K_WORKLOAD_KIND,
	K_IDENTITY,
	K_COUNT
};
static const char *const entry_keys[K_COUNT] = {"cidr",	   "ip",     "namespace", "pod",
						"service", "labels", "workload",  "workload_kind",
						"identity"};

/* The value of key k of an entry, at the current event. */
static int parse_value(struct loader *ld, int k, struct entry *e, bool *kind_in_workload)
{
	int rc;

	switch (k) {
	case K_CIDR:
	case K_IP:
		rc = expect_string(ld, k == K_CIDR ? "'cidr'" : "'ip'");
		if (!rc)
			rc = parse_addr(ld, k == K_CIDR, e);
		e->line = ev_line(ld);
		return rc;
	case K_NAMESPACE:
		return copy_field(ld, "'namespace'", e->id.ns, sizeof(e->id.ns));
	case K_POD:
		return copy_field(ld, "'pod'", e->id.pod, sizeof(e->id.pod));
	case K_SERVICE:
		return copy_field(ld, "'service'", e->id.service, sizeof(e->id.service));
	case K_LABELS:
		return parse_labels(ld, &e->id);
	case K_WORKLOAD:
		return parse_workload(ld, &e->id, kind_in_workload);
	case K_WORKLOAD_KIND:
		return copy_field(ld, "'workload_kind'", e->id.workload_kind,
				  sizeof(e->id.workload_kind));
	default:
		return parse_numeric(ld, e);
	}
}

static int parse_entry(struct loader *ld)
{
	struct entry e;
	size_t start = ev_line(ld), key_line[K_COUNT] = {0};
	bool kind_in_workload = false;
	int rc, k;

	memset(&e, 0, sizeof(e));
	if (ld->ev.type != YAML_MAPPING_START_EVENT)
		return fail(ld, start,
			    "each identity must be a mapping with 'cidr' or 'ip', not %s",
			    kind(ld));
	while (!(rc = next(ld)) && ld->ev.type != YAML_MAPPING_END_EVENT) {
		if (ld->ev.type != YAML_SCALAR_EVENT) {
			rc = fail(ld, ev_line(ld), "keys must be strings, not %s", kind(ld));
			goto err;
		}
		for (k = 0; k < K_COUNT; k++)
			if (!strcmp(ev_str(ld), entry_keys[k]))
				break;
		if (k == K_COUNT) {
			rc = fail(
				ld, ev_line(ld),
				"unknown key '%.64s' (expected cidr, ip, namespace, pod, service, labels, workload, workload_kind or identity)",
				ev_str(ld));
			goto err;
		}
		if (key_line[k]) {
			rc = fail(ld, ev_line(ld), "duplicate key '%s' (first at line %zu)",
				  entry_keys[k], key_line[k]);
			goto err;
		}
		if ((k == K_CIDR && key_line[K_IP]) || (k == K_IP && key_line[K_CIDR])) {
			rc = fail(ld, ev_line(ld),
				  "both 'cidr' and 'ip' given (other at line %zu); keep one",
				  key_line[k == K_CIDR ? K_IP : K_CIDR]);
			goto err;
		}
		key_line[k] = ev_line(ld);
		if ((rc = next(ld)) || (rc = parse_value(ld, k, &e, &kind_in_workload)))
			goto err;
		if (kind_in_workload && key_line[K_WORKLOAD_KIND]) {
			rc = fail(
				ld, key_line[k],
				"the workload's kind is given twice: in 'workload' (line %zu) and "
				"as 'workload_kind' (line %zu); keep one",
				key_line[K_WORKLOAD], key_line[K_WORKLOAD_KIND]);
			goto err;
		}
	}
	if (rc)
		goto err;
	if (!key_line[K_CIDR] && !key_line[K_IP]) {
		rc = fail(ld, start, "identity has neither 'cidr' nor 'ip'; add one");
		goto err;
	}
	if (key_line[K_WORKLOAD_KIND] && !key_line[K_WORKLOAD]) {
		rc = fail(ld, key_line[K_WORKLOAD_KIND],
			  "'workload_kind' without 'workload'; add the workload's name");
		goto err;
	}
	if ((rc = table_add(ld, &e)))
		goto err;
	return 0;
err:
	free_labels(&e.id);
	return rc;
}

static int parse_identities(struct loader *ld)
{
	int rc;

	if (is_null(ld))
		return 0; /* "identities:" with every entry commented out */
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT)
		return fail(ld, ev_line(ld), "'identities' must be a list, not %s", kind(ld));
	while (!(rc = next(ld)) && ld->ev.type != YAML_SEQUENCE_END_EVENT) {
		if (ld->t->n == MAX_ENTRIES)
			return fail(ld, ev_line(ld),
				    "more than %d identities; merge addresses into wider prefixes",
				    MAX_ENTRIES);
		if ((rc = parse_entry(ld)))
			return rc;
	}
	return rc;
}

static int parse_root(struct loader *ld)
{
	size_t seen = 0;
	int rc;

	if (is_null(ld))
		return 0;
	if (ld->ev.type != YAML_MAPPING_START_EVENT)
		return fail(ld, ev_line(ld),
			    "the file must be a mapping with key 'identities', not %s", kind(ld));
	while (!(rc = next(ld)) && ld->ev.type != YAML_MAPPING_END_EVENT) {
		if (ld->ev.type != YAML_SCALAR_EVENT)
			return fail(ld, ev_line(ld), "keys must be strings, not %s", kind(ld));
		if (strcmp(ev_str(ld), "identities"))
			return fail(ld, ev_line(ld),
				    "unknown top-level key '%.64s' (the only one is 'identities')",
				    ev_str(ld));
		if (seen)
			return fail(
				ld, ev_line(ld),
				"duplicate key 'identities' (first at line %zu); merge the lists",
				seen);
		seen = ev_line(ld);
		if ((rc = next(ld)) || (rc = parse_identities(ld)))
			return rc;
	}
	return rc;
}

/* Each parse_* function starts on the first event of its node and returns on its last. */
static int parse_stream(struct loader *ld)
{
	int rc;

	if ((rc = next(ld)) || (rc = next(ld))) /* stream start, then document start or end */
		return rc;
	if (ld->ev.type == YAML_STREAM_END_EVENT)
		return 0; /* empty file, or only comments */
	if ((rc = next(ld)) || (rc = parse_root(ld)) || (rc = next(ld)) || (rc = next(ld)))
		return rc;
	if (ld->ev.type != YAML_STREAM_END_EVENT)
		return fail(ld, ev_line(ld),
			    "the file holds more than one document; keep only one");
	return 0;
}

/* ---- numeric identities --------------------------------------------------------------------- */

/* The label set an entry's numeric identity stands for, as one string: its namespace and labels,
 * or its namespace, pod and service when it has no labels. NULL when out of memory. */
static char *set_key(const struct identity *id)
{
	size_t len = strlen(id->ns) + strlen(id->pod) + strlen(id->service) + 8, i;
	char *k, *p;

	for (i = 0; i < id->n_labels; i++)
		len += strlen(id->labels[i]) + 1;
	k = malloc(len);
	if (!k)
		return NULL;
	p = k + sprintf(k, "%s\x1f%c", id->ns, id->n_labels ? 'L' : 'P');
	if (!id->n_labels)
		sprintf(p, "\x1f%s\x1f%s", id->pod, id->service);
	for (i = 0; i < id->n_labels; i++)
		p += sprintf(p, "\x1f%s", id->labels[i]);
	return k;
}

struct set_ref {
	char *key;
	size_t idx; /* entry index */
};

static int set_ref_cmp(const void *a, const void *b)
{
	const struct set_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Numbers taken so far: a bitmap of the derived range, and the explicit ones above it. */
struct numbers {
	uint64_t low[(IDENTITY_DERIVED_MAX + 1) / 64];
	size_t n_free; /* of the derived range */
	uint32_t *high;
	size_t n_high;
	uint32_t next_high;
};

static bool taken(const struct numbers *u, uint32_t v)
{
	if (v <= IDENTITY_DERIVED_MAX)
		return u->low[v / 64] >> (v % 64) & 1;
	return u->n_high && bsearch(&v, u->high, u->n_high, sizeof(*u->high), u32_cmp);
}

static void take_number(struct numbers *u, uint32_t v)
{
	if (v <= IDENTITY_DERIVED_MAX && !taken(u, v)) {
		u->low[v / 64] |= 1ull << (v % 64);
		u->n_free--;
	}
}

/* A number for the label set key: its hash's slot in the derived range, the next free one after
 * it when taken; above the range only when all of it is taken. */
static uint32_t derive(struct numbers *u, const char *key)
{
	const uint32_t span = IDENTITY_DERIVED_MAX + 1 - IDENTITY_NUMERIC_MIN;
	uint32_t v;

	if (!u->n_free) {
		while (taken(u, u->next_high))
			u->next_high++;
		return u->next_high++;
	}
	v = IDENTITY_NUMERIC_MIN + (uint32_t)(hash_mix64(hash_stable_str(key)) % span);
	while (taken(u, v))
		v = v == IDENTITY_DERIVED_MAX ? IDENTITY_NUMERIC_MIN : v + 1;
	take_number(u, v);
	return v;
}

/* Gives every entry its numeric identity: the explicit one of its label set (the first in file
 * order) or one derived from the set. Sets are taken in sorted order, so the numbers depend on
 * the sets in the file, not on the order of its entries. */
static int assign_numerics(struct identity_table *t)
{
	struct set_ref *refs = calloc(t->n ? t->n : 1, sizeof(*refs));
	struct numbers *u = calloc(1, sizeof(*u));
	size_t i, j, k;
	uint32_t num;
	int rc = -ENOMEM;

	if (!refs || !u || !(u->high = malloc((t->n ? t->n : 1) * sizeof(*u->high))))
		goto out;
	u->n_free = IDENTITY_DERIVED_MAX + 1 - IDENTITY_NUMERIC_MIN;
	u->next_high = IDENTITY_DERIVED_MAX + 1;
	for (i = 0; i < t->n; i++) {
		const struct entry *e = &t->entries[i];

		refs[i].idx = i;
		if (!(refs[i].key = set_key(&e->id)))
			goto out;
		if (e->explicit_numeric && e->id.numeric > IDENTITY_DERIVED_MAX)
			u->high[u->n_high++] = e->id.numeric;
		else if (e->explicit_numeric)
			take_number(u, e->id.numeric);
	}
	qsort(u->high, u->n_high, sizeof(*u->high), u32_cmp);
	qsort(refs, t->n, sizeof(*refs), set_ref_cmp);
	for (i = 0; i < t->n; i = j) {
		num = 0;
		for (j = i; j < t->n && !strcmp(refs[j].key, refs[i].key); j++)
			if (!num && t->entries[refs[j].idx].explicit_numeric)
				num = t->entries[refs[j].idx].id.numeric;
		if (!num)
			num = derive(u, refs[i].key);
		for (k = i; k < j; k++)
			if (!t->entries[refs[k].idx].explicit_numeric)
				t->entries[refs[k].idx].id.numeric = num;
	}
	rc = 0;
out:
	for (i = 0; refs && i < t->n; i++)
		free(refs[i].key);
	free(refs);
	if (u)
		free(u->high);
	free(u);
	return rc;
}

/* ---- public --------------------------------------------------------------------------------- */

static int read_all(const char *path, char **buf, size_t *len)
{
	size_t cap = 0, n = 0;
	struct stat st;
	char *b = NULL, *grown;
	ssize_t r;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size >= MAX_FILE_BYTES) {
		rc = -EFBIG;
		goto out;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_FILE_BYTES) {
				rc = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : (S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096);
			grown = realloc(b, cap);
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			b = grown;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
out:
	close(fd);
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = n;
	return 0;
}

int identity_table_load(const char *path, struct identity_table **out, struct errmsg *e)
{
	struct loader ld = {.path = path, .e = e};
	char *buf = NULL;
	int rc, f, p;

	if (e)
		e->text[0] = '\0';
	if (!path || !out) {
		set_err(&ld, "identity_table_load: no path or output");
		return -EINVAL;
	}
	*out = NULL;
	rc = read_all(path, &buf, &ld.len);
	if (rc) {
		set_err(&ld, "%s: cannot read identity file: %s", path, strerror(-rc));
		return rc;
	}
	ld.buf = buf;
	ld.t = calloc(1, sizeof(*ld.t));
	if (!ld.t || !yaml_parser_initialize(&ld.parser)) {
		free(ld.t);
		free(buf);
		set_err(&ld, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)buf, ld.len);
	rc = parse_stream(&ld);
	if (ld.have_ev)
		yaml_event_delete(&ld.ev);
	yaml_parser_delete(&ld.parser);
	free(buf);
	if (!rc && (rc = assign_numerics(ld.t)))
		set_err(&ld, "%s: out of memory", path);
	if (rc) {
		identity_table_free(ld.t);
		return rc;
	}
	for (f = 0; f < 2; f++)
		for (p = f ? 128 : 32; p >= 0; p--)
			if (ld.t->present[f][p])
				ld.t->plens[f][ld.t->n_plens[f]++] = (uint8_t)p;
	*out = ld.t;
	return 0;
}

const struct identity *identity_lookup(const struct identity_table *t, int family,
				       const uint8_t addr[16])
{
	unsigned f, nbytes, plen;
	uint8_t key[16];
	size_t i, slot;

	if (!t || !addr || !t->n || (family != 4 && family != 6))
		return NULL;
	f = family == 6;
	nbytes = f ? 16 : 4;
	for (i = 0; i < t->n_plens[f]; i++) {
		plen = t->plens[f][i];
		mask_addr(key, addr, nbytes, plen);
		slot = find_slot(t, (unsigned)family, plen, key);
		if (t->slots[slot])
			return &t->entries[t->slots[slot] - 1].id;
	}
	return NULL;
}

size_t identity_table_size(const struct identity_table *t)
{
	return t ? t->n : 0;
}

const struct identity *identity_table_entry(const struct identity_table *t, size_t i)
{
	return t && i < t->n ? &t->entries[i].id : NULL;
}

void identity_table_free(struct identity_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		free_labels(&t->entries[i].id);
	free(t->entries);
	free(t->slots);
	free(t);
}
