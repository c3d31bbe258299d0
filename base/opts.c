/* Option tables to getopt_long and to --help (see include/flowscope/base/opts.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flowscope/base/opts.h"
#include "flowscope/base/parse.h"

#define HELP_COLUMN 29
/* getopt_long values of long-only options: above every short option's character. */
#define LONG_BASE 0x1000

#define AT(base, o, type) ((type *)((char *)(base) + (o)->off))

static int bad(const struct opt *o, const char *arg, struct errmsg *e, const char *what)
{
	return errmsg_set(e, -EINVAL, "invalid --%s '%s': use %s", o->name, arg, what);
}

int opt_string(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	if (!*arg)
		return bad(o, arg, e, "a value that is not empty");
	*AT(base, o, const char *) = arg;
	return 0;
}

int opt_list(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct opt_list *l = AT(base, o, struct opt_list);

	if (!*arg)
		return bad(o, arg, e, "a value that is not empty");
	if (l->n == OPT_LIST_MAX)
		return errmsg_set(e, -EINVAL, "--%s: at most %d values", o->name, OPT_LIST_MAX);
	l->v[l->n++] = arg;
	return 0;
}

int opt_flag(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	(void)arg;
	(void)e;
	*AT(base, o, bool) = true;
	return 0;
}

static int number(const struct opt *o, const char *arg, struct errmsg *e, uint64_t limit,
		  uint64_t *v)
{
	uint64_t max = o->max && o->max < limit ? o->max : limit;
	char what[96];

	if (parse_u64(arg, max, v) || *v < o->min) {
		snprintf(what, sizeof(what), "a whole number from %llu to %llu",
			 (unsigned long long)o->min, (unsigned long long)max);
		return bad(o, arg, e, what);
	}
	return 0;
}

int opt_u64(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	return number(o, arg, e, UINT64_MAX, AT(base, o, uint64_t));
}

int opt_u32(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	uint64_t v;
	int r = number(o, arg, e, UINT32_MAX, &v);

	if (!r)
		*AT(base, o, uint32_t) = (uint32_t)v;
	return r;
}

int opt_duration(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	uint64_t v;

	if (parse_duration_ns(arg, &v) || v == 0 || v < o->min)
		return bad(o, arg, e,
			   o->min ? "a duration such as 30s, 500ms or 5m (not below the minimum)"
				  : "a duration such as 30s, 500ms or 5m");
	*AT(base, o, uint64_t) = v;
	return 0;
}

int opt_size(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	uint64_t v;

	if (parse_size(arg, &v) || v < (o->min ? o->min : 1) || (o->max && v > o->max))
		return bad(o, arg, e, "bytes, or a number with K, M or G (100M)");
	*AT(base, o, uint64_t) = v;
	return 0;
}

int opt_word(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	const char *const *words = o->data;
	char what[256] = "";
	size_t len = 0;
	int i;

	for (i = 0; words[i]; i++) {
		if (!strcasecmp(arg, words[i])) {
			*AT(base, o, int) = i;
			return 0;
		}
	}
	for (i = 0; words[i] && len < sizeof(what); i++)
		len += (size_t)snprintf(what + len, sizeof(what) - len, "%s%s",
					i ? (words[i + 1] ? ", " : " or ") : "", words[i]);
	return bad(o, arg, e, what);
}

int opt_hostport(const struct opt *o, const char *arg, void *base, struct errmsg *e)
{
	struct opt_hostport *hp = AT(base, o, struct opt_hostport);

	if (parse_hostport(arg, hp->host, sizeof(hp->host), &hp->port))
		return bad(o, arg, e, "ADDR:PORT, e.g. 127.0.0.1:4245 or [::1]:4245");
	hp->set = true;
	return 0;
}

struct slot {
	const struct opt *o;
	void *base;
};

/* getopt_long's tables for the groups: long options, short option string, and for each getopt
 * value the entry it stands for. */
struct getopt_tables {
	struct option *longs;
	char shorts[128];
	struct slot *slots; /* by LONG_BASE + index for long-only, by character for short */
	size_t n;
};

static int tables_build(struct getopt_tables *t, const struct opt_group *g, size_t n_groups)
{
	size_t total = 0, i, k = 0, s = 1;
	const struct opt *o;

	for (i = 0; i < n_groups; i++)
		for (o = g[i].opts; o->name; o++)
			total++;
	t->longs = calloc(total + 1, sizeof(*t->longs));
	t->slots = calloc(LONG_BASE + total, sizeof(*t->slots));
	if (!t->longs || !t->slots)
		return -ENOMEM;
	t->shorts[0] = ':'; /* report a missing argument as ':' */
	for (i = 0; i < n_groups; i++) {
		for (o = g[i].opts; o->name; o++, k++) {
			int val = o->short_name ? o->short_name : (int)(LONG_BASE + k);

			t->longs[k] = (struct option){
				o->name, o->arg ? required_argument : no_argument, NULL, val};
			t->slots[val] = (struct slot){o, g[i].base};
			if (o->short_name && s + 3 < sizeof(t->shorts)) {
				t->shorts[s++] = (char)o->short_name;
				if (o->arg)
					t->shorts[s++] = ':';
			}
		}
	}
	t->shorts[s] = '\0';
	t->n = total;
	return 0;
}

int opts_parse(int argc, char **argv, const struct opt_group *groups, size_t n_groups,
	       struct errmsg *e)
{
	struct getopt_tables t = {0};
	int c, r = 0;

	r = tables_build(&t, groups, n_groups);
	if (r)
		goto out;
	optind = 0; /* 0, not 1: glibc then also forgets a half-read "-abc" of the last call */
	opterr = 0;
	while ((c = getopt_long(argc, argv, t.shorts, t.longs, NULL)) != -1) {
		const char *opt_text = argv[optind - 1];

		if (c == '?' || c == ':') {
			/* optopt is the short option, or the long one's value when it had one. */
			const struct opt *o = optopt > 0 && optopt < (int)(LONG_BASE + t.n)
						      ? t.slots[optopt].o
						      : NULL;

			if (c == ':' && o)
				r = errmsg_set(e, -EINVAL, "--%s needs a value (%s)", o->name,
					       o->arg);
			else if (o && !o->arg) /* "--flag=value" */
				r = errmsg_set(e, -EINVAL, "--%s takes no value", o->name);
			else if (optopt && optopt < LONG_BASE && !o)
				r = errmsg_set(e, -EINVAL, "unknown option '-%c'", optopt);
			else
				r = errmsg_set(e, -EINVAL, "unknown option '%s'", opt_text);
			goto out;
		}
		r = t.slots[c].o->parse(t.slots[c].o, optarg, t.slots[c].base, e);
		if (r)
			goto out;
	}
	r = optind;
out:
	free(t.longs);
	free(t.slots);
	return r;
}

static int help_entry(struct buf *out, const struct opt *o)
{
	const char *h = o->help ? o->help : "", *sp = o->arg ? " " : "",
		   *arg = o->arg ? o->arg : "";
	size_t start = out->len;
	int err, n;

	if (o->short_name)
		err = buf_printf(out, "  -%c, --%s%s%s", o->short_name, o->name, sp, arg);
	else
		err = buf_printf(out, "      --%s%s%s", o->name, sp, arg);
	n = (int)(out->len - start);
	/* The help's first line beside the name (or below a long one), the rest under it. */
	if (n >= HELP_COLUMN)
		err = err ?: buf_printf(out, "\n%*s", HELP_COLUMN, "");
	else
		err = err ?: buf_printf(out, "%*s", HELP_COLUMN - n, "");
	for (; *h && !err; h++) {
		err = buf_putc(out, *h);
		if (*h == '\n')
			err = err ?: buf_printf(out, "%*s", HELP_COLUMN, "");
	}
	return err ?: buf_putc(out, '\n');
}

int opts_help(struct buf *out, const struct opt_group *groups, size_t n_groups)
{
	const struct opt *o;
	size_t i;
	int err = 0;

	for (i = 0; i < n_groups && !err; i++) {
		if (groups[i].title)
			err = buf_printf(out, "%s%s\n", i ? "\n" : "", groups[i].title);
		for (o = groups[i].opts; o->name && !err; o++)
			err = help_entry(out, o);
	}
	return err;
}
