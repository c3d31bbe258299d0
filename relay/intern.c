/* The relay's interned strings and identities (see relay/intern.h): one open-addressing hash
 * table of strings; an identity is interned by a key string made of all its fields. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/str.h"
#include "flowscope/base/hash.h"
#include "intern.h"

struct slot {
	char *s;
	struct identity *id;	   /* when the string is an identity's key */
	struct flow_process *proc; /* when it is a process's */
};

struct intern {
	struct slot *slots;
	size_t cap, n, max;
	uint64_t refused;
};

struct intern *intern_new(size_t max_strings)
{
	struct intern *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cap = 1024;
	t->max = max_strings;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

static void identity_release(struct identity *id)
{
	size_t i;

	if (!id)
		return;
	for (i = 0; i < id->n_labels; i++)
		free(id->labels[i]);
	free(id->labels);
	free(id);
}

void intern_free(struct intern *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->cap; i++) {
		free(t->slots[i].s);
		identity_release(t->slots[i].id);
		free(t->slots[i].proc);
	}
	free(t->slots);
	free(t);
}

static struct slot *find(struct intern *t, const char *s, size_t len)
{
	size_t i = (size_t)hash_bytes(s, len) & (t->cap - 1);

	while (t->slots[i].s && strcmp(t->slots[i].s, s))
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

static int grow(struct intern *t)
{
	struct slot *old = t->slots;
	size_t i, cap = t->cap;

	t->slots = calloc(cap * 2, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->cap = cap * 2;
	for (i = 0; i < cap; i++)
		if (old[i].s)
			*find(t, old[i].s, strlen(old[i].s)) = old[i];
	free(old);
	return 0;
}

/* The slot of s, made if new; NULL past the limit or without memory. */
static struct slot *get(struct intern *t, const char *s)
{
	size_t len = strlen(s);
	struct slot *sl = find(t, s, len);

	if (sl->s)
		return sl;
	if (t->n >= t->max || ((t->n + 1) * 2 > t->cap && grow(t))) {
		t->refused++;
		return NULL;
	}
	sl = find(t, s, len);
	sl->s = strdup(s);
	if (!sl->s) {
		t->refused++;
		return NULL;
	}
	t->n++;
	return sl;
}

const char *intern_str(struct intern *t, const char *s)
{
	struct slot *sl;

	if (!s || !s[0])
		return NULL;
	sl = get(t, s);
	return sl ? sl->s : NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct identity *identity_make(const Flow__Endpoint *ep, const Flow__Service *svc)
{
	struct identity *id = calloc(1, sizeof(*id));
	size_t i;

	if (!id)
		return NULL;
	snprintf(id->ns, sizeof(id->ns), "%s", ep->namespace_ ? ep->namespace_ : "");
	snprintf(id->pod, sizeof(id->pod), "%s", ep->pod_name ? ep->pod_name : "");
	if (svc && svc->name)
		snprintf(id->service, sizeof(id->service), "%s", svc->name);
	if (ep->n_workloads && ep->workloads[0]->name) {
		snprintf(id->workload, sizeof(id->workload), "%s", ep->workloads[0]->name);
		snprintf(id->workload_kind, sizeof(id->workload_kind), "%s",
			 ep->workloads[0]->kind ? ep->workloads[0]->kind : "");
	}
	id->numeric = ep->identity;
	id->labels = calloc(ep->n_labels ? ep->n_labels : 1, sizeof(*id->labels));
	if (!id->labels) {
		free(id);
		return NULL;
	}
	for (i = 0; i < ep->n_labels; i++) {
		id->labels[i] = strdup(ep->labels[i] ? ep->labels[i] : "");
		if (!id->labels[i]) {
			identity_release(id);
			return NULL;
		}
		id->n_labels++;
	}
	qsort(id->labels, id->n_labels, sizeof(*id->labels), cmp_str);
	return id;
}

const struct identity *intern_identity(struct intern *t, const Flow__Endpoint *ep,
				       const Flow__Service *svc)
{
	const char *parts[5] = {
		ep ? ep->namespace_ : NULL,
		ep ? ep->pod_name : NULL,
		svc ? svc->name : NULL,
		ep && ep->n_workloads ? ep->workloads[0]->name : NULL,
		ep && ep->n_workloads ? ep->workloads[0]->kind : NULL,
	};
	char key[2048];
	struct str_writer w = str_writer_at(key, sizeof(key));
	struct slot *sl;
	size_t i;

	if (!ep)
		return NULL;
	/* Every field, each after a separator no name has (written by appends: snprintf was the
	 * relay's only printf per event, perf). */
	str_puts(&w, "\x1fid\x1f");
	str_put_u32(&w, ep->identity);
	for (i = 0; i < 5; i++) {
		str_puts(&w, "\x1f");
		str_puts(&w, parts[i] ? parts[i] : "");
	}
	for (i = 0; i < ep->n_labels && w.n + 1 < sizeof(key); i++) {
		str_puts(&w, "\x1f");
		str_puts(&w, ep->labels[i] ? ep->labels[i] : "");
	}
	sl = get(t, key);
	if (!sl)
		return NULL;
	if (!sl->id)
		sl->id = identity_make(ep, svc);
	return sl->id;
}

const struct flow_process *intern_process(struct intern *t, const struct flow_process *p)
{
	char key[128];
	struct str_writer w = str_writer_at(key, sizeof(key));
	struct slot *sl;

	if (!p)
		return NULL;
	str_puts(&w, "\x1fproc\x1f");
	str_put_u32(&w, p->pid);
	str_puts(&w, p->known ? "\x1f" : "\x1f?");
	str_put_u32(&w, (uint32_t)(p->cgroup_id >> 32));
	str_puts(&w, ".");
	str_put_u32(&w, (uint32_t)p->cgroup_id);
	str_puts(&w, "\x1f");
	str_put(&w, p->comm, sizeof(p->comm));
	str_puts(&w, "\x1f");
	str_puts(&w, p->container_id ? p->container_id : "");
	sl = get(t, key);
	if (!sl)
		return NULL;
	if (!sl->proc) {
		struct flow_process *q = calloc(1, sizeof(*q));

		if (!q)
			return NULL;
		*q = *p;
		q->container_id = intern_str(t, p->container_id);
		sl = get(t, key); /* interning the id may have moved the slots */
		if (!sl) {
			free(q);
			return NULL;
		}
		sl->proc = q;
	}
	return sl->proc;
}

uint64_t intern_refused(const struct intern *t)
{
	return t->refused;
}
