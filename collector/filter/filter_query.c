/* Hubble-style flow filters from key=value parameters (see include/flowscope/filter/filter_query.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/filter/filter_query.h"

static int add_int_val(size_t *n, Flow__Verdict **arr, int v)
{
	Flow__Verdict *a = realloc(*arr, sizeof(**arr) * (*n + 1));

	if (!a)
		return -ENOMEM;
	*arr = a;
	a[(*n)++] = (Flow__Verdict)v;
	return 0;
}

static int add_val(size_t *n, char ***arr, const char *v)
{
	char **a = realloc(*arr, sizeof(char *) * (*n + 1));

	if (!a)
		return -ENOMEM;
	*arr = a;
	a[(*n)++] = (char *)v; /* MHD's value: valid while the request is handled */
	return 0;
}

#define Q_BOTH(q, field, v)                                                                        \
	((q)->any = true, add_val(&(q)->f[0].n_##field, &(q)->f[0].field, v) ||                    \
				  add_val(&(q)->f[1].n_##field, &(q)->f[1].field, v))
#define Q_SPLIT(q, src, dst, v)                                                                    \
	((q)->any = (q)->twin = true, add_val(&(q)->f[0].n_##src, &(q)->f[0].src, v) ||            \
					      add_val(&(q)->f[1].n_##dst, &(q)->f[1].dst, v))

void filter_query_free(struct filter_query *q)
{
	int i;

	for (i = 0; i < 2; i++) {
		Flow__FlowFilter *f = &q->f[i];

		free(f->source_ip);
		free(f->destination_ip);
		free(f->source_port);
		free(f->destination_port);
		free(f->protocol);
		free(f->verdict);
		free(f->source_pod);
		free(f->destination_pod);
		free(f->source_service);
		free(f->destination_service);
		free(f->source_label);
		free(f->destination_label);
		free(f->source_fqdn);
		free(f->destination_fqdn);
	}
	free(q->ns_copies[0]);
	free(q->ns_copies[1]);
	free(q->ns_copies[2]);
	free(q->node);
	free(q->edge);
	free(q->owned);
	memset(q, 0, sizeof(*q));
}

int filter_query_arg(struct filter_query *q, const char *key, const char *v)
{
	int r = 0, i;

	if (!strcmp(key, "ip"))
		r = Q_SPLIT(q, source_ip, destination_ip, v);
	else if (!strcmp(key, "from_ip"))
		r = Q_BOTH(q, source_ip, v);
	else if (!strcmp(key, "to_ip"))
		r = Q_BOTH(q, destination_ip, v);
	else if (!strcmp(key, "port"))
		r = Q_SPLIT(q, source_port, destination_port, v);
	else if (!strcmp(key, "from_port"))
		r = Q_BOTH(q, source_port, v);
	else if (!strcmp(key, "to_port"))
		r = Q_BOTH(q, destination_port, v);
	else if (!strcmp(key, "protocol"))
		r = Q_BOTH(q, protocol, v);
	else if (!strcmp(key, "pod"))
		r = Q_SPLIT(q, source_pod, destination_pod, v);
	else if (!strcmp(key, "from_pod"))
		r = Q_BOTH(q, source_pod, v);
	else if (!strcmp(key, "to_pod"))
		r = Q_BOTH(q, destination_pod, v);
	else if (!strcmp(key, "service"))
		r = Q_SPLIT(q, source_service, destination_service, v);
	else if (!strcmp(key, "from_service"))
		r = Q_BOTH(q, source_service, v);
	else if (!strcmp(key, "to_service"))
		r = Q_BOTH(q, destination_service, v);
	else if (!strcmp(key, "label"))
		r = Q_SPLIT(q, source_label, destination_label, v);
	else if (!strcmp(key, "from_label"))
		r = Q_BOTH(q, source_label, v);
	else if (!strcmp(key, "to_label"))
		r = Q_BOTH(q, destination_label, v);
	else if (!strcmp(key, "fqdn"))
		r = Q_SPLIT(q, source_fqdn, destination_fqdn, v);
	else if (!strcmp(key, "from_fqdn"))
		r = Q_BOTH(q, source_fqdn, v);
	else if (!strcmp(key, "to_fqdn"))
		r = Q_BOTH(q, destination_fqdn, v);
	else if (!strcmp(key, "namespace") || !strcmp(key, "from_namespace") ||
		 !strcmp(key, "to_namespace")) {
		/* A namespace is the pod selector "namespace/". */
		char *sel;

		if (!*v || strchr(v, '/') || strlen(v) > 253) {
			snprintf(q->err, sizeof(q->err), "invalid %s '%s'", key, v);
			return 0;
		}
		for (i = 0; i < 3 && q->ns_copies[i]; i++)
			;
		if (i == 3) {
			snprintf(q->err, sizeof(q->err), "give each namespace parameter once");
			return 0;
		}
		sel = malloc(strlen(v) + 2);
		if (!sel)
			return -ENOMEM;
		sprintf(sel, "%s/", v);
		q->ns_copies[i] = sel;
		if (key[0] == 'n')
			r = Q_SPLIT(q, source_pod, destination_pod, sel);
		else if (key[0] == 'f')
			r = Q_BOTH(q, source_pod, sel);
		else
			r = Q_BOTH(q, destination_pod, sel);
	} else if (!strcmp(key, "verdict")) {
		const ProtobufCEnumValue *ev =
			protobuf_c_enum_descriptor_get_value_by_name(&flow__verdict__descriptor, v);

		if (!ev) {
			snprintf(q->err, sizeof(q->err),
				 "invalid verdict '%s': use FORWARDED, DROPPED, ...", v);
			return 0;
		}
		q->any = true;
		r = add_int_val(&q->f[0].n_verdict, &q->f[0].verdict, ev->value) ||
		    add_int_val(&q->f[1].n_verdict, &q->f[1].verdict, ev->value);
	} else if (!strcmp(key, "node")) {
		free(q->node);
		q->node = strdup(v);
		r = q->node ? 0 : -ENOMEM;
	} else if (!strcmp(key, "edge")) {
		free(q->edge);
		q->edge = strdup(v);
		r = q->edge ? 0 : -ENOMEM;
	} else {
		return 1; /* not a filter */
	}
	return r;
}

int filter_query_compile(struct filter_query *allow, struct filter_query *deny,
			 struct flow_filter_set **out, char *err, size_t errlen)
{
	Flow__FlowFilter *a[2] = {allow ? &allow->f[0] : NULL, allow ? &allow->f[1] : NULL};
	Flow__FlowFilter *d[2] = {deny ? &deny->f[0] : NULL, deny ? &deny->f[1] : NULL};
	size_t na = allow && allow->any ? (allow->twin ? 2 : 1) : 0;
	size_t nd = deny && deny->any ? (deny->twin ? 2 : 1) : 0;
	char e[256];

	*out = NULL;
	if (!na && !nd)
		return 0;
	*out = flow_filter_set_new(a, na, d, nd, e, sizeof(e));
	if (!*out) {
		snprintf(err, errlen, "%s", errno == EINVAL ? e : "out of memory");
		return -1;
	}
	return 0;
}

int filter_query_parse(struct filter_query *q, const char *s)
{
	char *p, *tok, *save = NULL;

	free(q->owned);
	q->owned = strdup(s);
	if (!q->owned)
		return -ENOMEM;
	for (p = q->owned; (tok = strtok_r(p, "&,", &save)); p = NULL) {
		char *eq = strchr(tok, '=');
		int r;

		if (!eq) {
			snprintf(q->err, sizeof(q->err), "'%s' is not key=value", tok);
			return -1;
		}
		*eq = '\0';
		r = filter_query_arg(q, tok, eq + 1);
		if (r < 0)
			return r;
		if (r > 0) {
			snprintf(q->err, sizeof(q->err),
				 "unknown filter '%s': use ip, port, protocol, verdict, namespace, "
				 "pod, service, label, fqdn (also from_/to_ forms)",
				 tok);
			return -1;
		}
		if (q->err[0])
			return -1;
	}
	return 0;
}
