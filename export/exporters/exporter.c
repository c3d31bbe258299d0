/* The exporter contract's runtime (see include/flowscope/exporters/exporter.h): the set of
 * exporters flowd runs, their options, and what is done once for all of them per flow event
 * (event selection, filters, the field mask, the JSON encoding). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/encode/flow_pb.h"
#include "flowscope/exporters/exporter.h"
#include "flowscope/filter/flow_filter.h"

#define MAX_TYPES 16

struct export_event_cache {
	const struct flow_pb_mask *mask;
	struct buf *json;
	bool done;
	int err;
};

struct running {
	const struct exporter_type *type;
	void *state;
	uint64_t filtered;
};

struct exporter_set {
	/* Options. */
	const char *allow, *deny, *fields;
	void *cfg[MAX_TYPES]; /* per registered type, in registry order */
	/* Open. */
	struct flow_filter_set *filters;
	struct flow_pb_mask *mask;
	char node_name[256];
	char *const *node_labels;
	size_t n_node_labels;
	struct running run[MAX_TYPES];
	size_t n_run;
	struct buf json;
};

static const struct opt set_opts[] = {
	{"export-allow", 0, "FILTER",
	 "export only flow events matching FILTER, written with the filter keys\n"
	 "(flowctl observe --help): 'to_port=443&protocol=tcp'",
	 opt_string, offsetof(struct exporter_set, allow)},
	{"export-deny", 0, "FILTER", "export no flow event matching FILTER", opt_string,
	 offsetof(struct exporter_set, deny)},
	{"export-fields", 0, "LIST",
	 "keep only these flow fields in exported JSON, e.g.\ntime,IP,l4,verdict", opt_string,
	 offsetof(struct exporter_set, fields)},
	{0},
};

static size_t n_types(void)
{
	size_t n = 0;

	while (exporter_types[n] && n < MAX_TYPES)
		n++;
	return n;
}

struct exporter_set *exporter_set_new(void)
{
	struct exporter_set *s = calloc(1, sizeof(*s));
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < n_types(); i++) {
		const struct exporter_type *t = exporter_types[i];

		s->cfg[i] = calloc(1, t->config_size);
		if (!s->cfg[i]) {
			exporter_set_free(s);
			return NULL;
		}
		if (t->config_init)
			t->config_init(s->cfg[i]);
	}
	return s;
}

size_t exporter_set_opt_groups(struct exporter_set *s, struct opt_group *out, size_t max)
{
	size_t n = 0, i;

	for (i = 0; i < n_types() && n < max; i++)
		out[n++] = (struct opt_group){exporter_types[i]->title, exporter_types[i]->opts,
					      s->cfg[i]};
	if (n < max)
		out[n++] = (struct opt_group){"Export filters (every exporter):", set_opts, s};
	return n;
}

int exporter_set_option(struct exporter_set *s, const char *name, const char *arg, struct errmsg *e)
{
	struct opt_group g[MAX_TYPES + 1];
	size_t n = exporter_set_opt_groups(s, g, MAX_TYPES + 1), i;
	const struct opt *o;

	for (i = 0; i < n; i++)
		for (o = g[i].opts; o->name; o++)
			if (!strcmp(o->name, name))
				return o->parse(o, o->arg ? arg : NULL, g[i].base, e);
	return errmsg_set(e, -ENOENT, "unknown option '--%s'", name);
}

static int compile_filters(struct exporter_set *s, struct errmsg *e)
{
	struct filter_req r;
	int err = 0;

	filter_req_init(&r, FILTER_AS_PARAM);
	if (s->allow && (err = filter_req_parse(&r, s->allow, false, e)))
		errmsg_prefix(e, "--export-allow");
	else if (s->deny && (err = filter_req_parse(&r, s->deny, true, e)))
		errmsg_prefix(e, "--export-deny");
	else
		err = flow_filter_set_from_req(&r, &s->filters, e);
	filter_req_free(&r);
	return err;
}

static void close_all(struct exporter_set *s)
{
	while (s->n_run) {
		struct running *r = &s->run[--s->n_run];

		r->type->close(r->state);
	}
}

int exporter_set_open(struct exporter_set *s, const struct exporter_env *env, struct errmsg *e)
{
	size_t i;
	int err;

	snprintf(s->node_name, sizeof(s->node_name), "%s", env->node_name ? env->node_name : "");
	s->node_labels = env->node_labels;
	s->n_node_labels = env->n_node_labels;
	err = compile_filters(s, e);
	if (!err && (err = flow_pb_mask_new(s->fields, &s->mask, e)))
		errmsg_prefix(e, "--export-fields");
	for (i = 0; !err && i < n_types(); i++) {
		const struct exporter_type *t = exporter_types[i];
		struct running *r = &s->run[s->n_run];

		if (!t->enabled(s->cfg[i]))
			continue;
		err = t->open(&r->state, s->cfg[i], env, e);
		if (err) {
			errmsg_prefix(e, "%s exporter", t->name);
			break;
		}
		r->type = t;
		s->n_run++;
	}
	if (err)
		close_all(s);
	return err;
}

size_t exporter_set_count(const struct exporter_set *s)
{
	return s->n_run;
}

const struct buf *export_event_json(struct export_event *ev)
{
	struct export_event_cache *c = ev->cache;

	if (!c->done) {
		buf_reset(c->json);
		c->err = flow_pb_json_line_masked(c->json, ev->flow, ev->node_name, c->mask);
		c->done = true;
	}
	return c->err ? NULL : c->json;
}

int exporter_set_take(struct exporter_set *s, const struct flow *f)
{
	struct export_event_cache cache = {.mask = s->mask, .json = &s->json};
	struct export_event ev = {.flow = f, .node_name = s->node_name, .cache = &cache};
	int passes = -1, first = 0, err; /* the filters: evaluated once, when first needed */
	size_t i;

	for (i = 0; i < s->n_run; i++) {
		struct running *r = &s->run[i];

		if (r->type->events && !(r->type->events & (1u << f->event)))
			continue;
		if (passes < 0)
			passes = flow_filter_set_match(
				s->filters, f,
				&(struct filter_node){.name = s->node_name,
						      .labels = s->node_labels,
						      .n_labels = s->n_node_labels});
		if (!passes) {
			r->filtered++;
			continue;
		}
		err = r->type->take(r->state, &ev);
		if (err && !first)
			first = err;
	}
	return first;
}

void exporter_set_flush(struct exporter_set *s, bool sync)
{
	size_t i;

	for (i = 0; i < s->n_run; i++)
		s->run[i].type->flush(s->run[i].state, sync);
}

int exporter_set_reload(struct exporter_set *s, struct errmsg *e)
{
	int first = 0, err;
	size_t i;

	for (i = 0; i < s->n_run; i++) {
		if (!s->run[i].type->reload)
			continue;
		err = s->run[i].type->reload(s->run[i].state, first ? NULL : e);
		if (err && !first) {
			errmsg_prefix(e, "%s exporter", s->run[i].type->name);
			first = err;
		}
	}
	return first;
}

const char *exporter_set_stats(const struct exporter_set *s, size_t i, struct exporter_stats *st)
{
	memset(st, 0, sizeof(*st));
	s->run[i].type->stats(s->run[i].state, st);
	st->filtered = s->run[i].filtered;
	return s->run[i].type->name;
}

void exporter_set_free(struct exporter_set *s)
{
	size_t i;

	if (!s)
		return;
	close_all(s);
	for (i = 0; i < MAX_TYPES; i++)
		free(s->cfg[i]);
	flow_filter_set_free(s->filters);
	flow_pb_mask_free(s->mask);
	buf_free(&s->json);
	free(s);
}
