/* `flowctl list nodes|namespaces` (see cli/list.h), laid out as hubble/cmd/list prints them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "flowscope/encode/pb_json.h"
#include "list.h"
#include "out.h"
#include "print.h"

/* Go's time.Duration.String() of a whole number of seconds: "1h2m3s", "4m0s", "5s". */
static void go_seconds(char *out, size_t len, uint64_t s)
{
	if (s >= 3600)
		snprintf(out, len, "%lluh%llum%llus", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60), (unsigned long long)(s % 60));
	else if (s >= 60)
		snprintf(out, len, "%llum%llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(out, len, "%llus", (unsigned long long)s);
}

static int by_name(const void *a, const void *b)
{
	const Observer__Node *x = *(Observer__Node *const *)a, *y = *(Observer__Node *const *)b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static const char *state_title(Relay__NodeState s)
{
	switch (s) {
	case RELAY__NODE_STATE__NODE_CONNECTED:
		return "Connected";
	case RELAY__NODE_STATE__NODE_UNAVAILABLE:
		return "Unavailable";
	case RELAY__NODE_STATE__NODE_GONE:
		return "Gone";
	case RELAY__NODE_STATE__NODE_ERROR:
		return "Error";
	default:
		return "Unknown";
	}
}

/* One node's cells: the table's row. */
static void node_cells(const Observer__Node *n, bool wide, char cells[8][320])
{
	/* Duration.Round(time.Second): half away from zero. */
	uint64_t up = (n->uptime_ns + 500000000ULL) / 1000000000ULL;

	snprintf(cells[0], 320, "%s", n->name ? n->name : "");
	snprintf(cells[1], 320, "%s", state_title(n->state));
	snprintf(cells[2], 320, "N/A");
	snprintf(cells[3], 320, "N/A");
	if (up) {
		go_seconds(cells[2], 320, up);
		snprintf(cells[3], 320, "%.2f", (double)n->seen_flows / (double)up);
	}
	if (n->max_flows)
		snprintf(cells[4], 320, "%llu/%llu (%6.2f%%)", (unsigned long long)n->num_flows,
			 (unsigned long long)n->max_flows,
			 100.0 * (double)n->num_flows / (double)n->max_flows);
	else
		snprintf(cells[4], 320, "N/A");
	if (!wide)
		return;
	snprintf(cells[5], 320, "%s", n->version && n->version[0] ? n->version : "N/A");
	snprintf(cells[6], 320, "%s", n->address ? n->address : "");
	snprintf(cells[7], 320, "%s", !n->tls ? "N/A" : n->tls->enabled ? "Enabled" : "Disabled");
}

int list_nodes_table(struct buf *out, Observer__GetNodesResponse *r, bool wide)
{
	static const char *const head[] = {
		"NAME",	   "STATUS",  "AGE", "FLOWS/S", "CURRENT/MAX-FLOWS",
		"VERSION", "ADDRESS", "TLS"};
	size_t cols = wide ? 8 : 5, i, c;
	char(*cells)[8][320] = calloc(r->n_nodes + 1, sizeof(*cells));
	char **ptrs = calloc((r->n_nodes + 1) * cols, sizeof(char *));
	int err = cells && ptrs ? 0 : -ENOMEM;

	if (!err) {
		qsort(r->nodes, r->n_nodes, sizeof(*r->nodes), by_name);
		for (c = 0; c < cols; c++)
			snprintf(cells[0][c], 320, "%s", head[c]);
		for (i = 0; i < r->n_nodes; i++)
			node_cells(r->nodes[i], wide, cells[i + 1]);
		for (i = 0; i <= r->n_nodes; i++)
			for (c = 0; c < cols; c++)
				ptrs[i * cols + c] = cells[i][c];
		err = printer_tabulate(out, ptrs, r->n_nodes + 1, cols);
	}
	free(cells);
	free(ptrs);
	return err;
}

int list_namespaces_table(struct buf *out, const Observer__GetNamespacesResponse *r, bool wide)
{
	static char *const head[] = {"NAMESPACE", "CLUSTER"};
	char *const **rows = calloc(r->n_namespaces + 1, sizeof(*rows));
	size_t *n = calloc(r->n_namespaces + 1, sizeof(*n)), i;
	char **cells = calloc(2 * r->n_namespaces + 1, sizeof(*cells));
	int err = rows && n && cells ? 0 : -ENOMEM;

	for (i = 0; !err && i < r->n_namespaces; i++) {
		const Observer__Namespace *ns = r->namespaces[i];

		cells[2 * i] = ns->namespace_ ? ns->namespace_ : "";
		cells[2 * i + 1] = ns->cluster ? ns->cluster : "";
		rows[i + 1] = cells + 2 * i;
		/* Hubble writes the cluster cell only when there is one. */
		n[i + 1] = wide && ns->cluster && ns->cluster[0] ? 2 : 1;
	}
	rows[0] = head;
	n[0] = wide ? 2 : 1;
	err = err ?: printer_tabwrite(out, rows, n, r->n_namespaces + 1);
	free(rows);
	free(n);
	free(cells);
	return err;
}

int list_json_indent(struct buf *out, const char *json, size_t len, int depth, const char *indent)
{
	bool in_str = false;
	size_t i;
	int err = 0, d;

	for (i = 0; i < len && !err; i++) {
		char c = json[i];

		if (in_str) {
			err = buf_putc(out, c);
			if (c == '\\' && i + 1 < len)
				err = err ?: buf_putc(out, json[++i]);
			else if (c == '"')
				in_str = false;
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			err = buf_putc(out, c);
			break;
		case '{':
		case '[':
			if (i + 1 < len && (json[i + 1] == '}' || json[i + 1] == ']')) {
				err = buf_putc(out, c) ?: buf_putc(out, json[++i]);
				break;
			}
			err = buf_putc(out, c) ?: buf_putc(out, '\n');
			depth++;
			for (d = 0; d < depth && !err; d++)
				err = buf_puts(out, indent);
			break;
		case '}':
		case ']':
			err = buf_putc(out, '\n');
			depth--;
			for (d = 0; d < depth && !err; d++)
				err = buf_puts(out, indent);
			err = err ?: buf_putc(out, c);
			break;
		case ',':
			err = buf_puts(out, ",\n");
			for (d = 0; d < depth && !err; d++)
				err = buf_puts(out, indent);
			break;
		case ':':
			err = buf_puts(out, ": ");
			break;
		default:
			err = buf_putc(out, c);
		}
	}
	return err;
}

int list_json(struct buf *out, ProtobufCMessage *const *msgs, size_t n)
{
	struct buf one = BUF_INIT;
	size_t i;
	int err = buf_puts(out, n ? "[\n" : "[]\n");

	for (i = 0; i < n && !err; i++) {
		buf_reset(&one);
		err = pb_json_write(&one, msgs[i]) ?: buf_puts(out, "  ");
		err = err ?: list_json_indent(out, one.data, one.len, 1, "  ");
		err = err ?: buf_puts(out, i + 1 < n ? ",\n" : "\n]\n");
	}
	buf_free(&one);
	return err;
}

/* ---- the command -------------------------------------------------------------------------- */

struct list_args {
	int output; /* table, wide, json */
	bool help;
	struct conn_opts conn;
};

static const char *const list_outputs[] = {"table", "wide", "json", NULL};

static const struct opt list_opts[] = {
	{"output", 'o', "FMT", "table (default), wide (with version, address, TLS) or json",
	 opt_word, offsetof(struct list_args, output), 0, 0, list_outputs},
	{"help", 'h', NULL, "show this help", opt_flag, offsetof(struct list_args, help)},
	{0},
};

static int on_msg(const uint8_t *msg, size_t len, void *ctx)
{
	ProtobufCMessage **out = ctx;

	*out = protobuf_c_message_unpack((*out)->descriptor, NULL, len, msg);
	return *out ? 0 : 1;
}

static int list_call(struct list_args *a, bool nodes, struct out *w)
{
	Observer__GetNodesRequest nreq = OBSERVER__GET_NODES_REQUEST__INIT;
	Observer__GetNamespacesRequest sreq = OBSERVER__GET_NAMESPACES_REQUEST__INIT;
	Observer__GetNodesResponse nproto = OBSERVER__GET_NODES_RESPONSE__INIT;
	Observer__GetNamespacesResponse sproto = OBSERVER__GET_NAMESPACES_RESPONSE__INIT;
	ProtobufCMessage *res = nodes ? &nproto.base : &sproto.base;
	struct grpc_client *cl = NULL;
	struct errmsg e = {""};
	int r;

	if (conn_connect(&a->conn, &cl))
		return 1;
	grpc_client_set_deadline(cl, (int)(a->conn.request_timeout_ns / 1000000));
	r = grpc_client_call(
		cl, nodes ? "/observer.Observer/GetNodes" : "/observer.Observer/GetNamespaces",
		nodes ? &nreq.base : &sreq.base, on_msg, &res, NULL, &e);
	grpc_client_close(cl);
	if (r || res == &nproto.base || res == &sproto.base) {
		fprintf(stderr, "flowctl: %s failed: %s%s%s\n",
			nodes ? "GetNodes" : "GetNamespaces", r < 0 ? "" : conn_status_name(r),
			r < 0 ? "" : ": ", e.text);
		if (res != &nproto.base && res != &sproto.base)
			protobuf_c_message_free_unpacked(res, NULL);
		return 1;
	}
	if (a->output == 2 && nodes)
		r = list_json(&w->b,
			      (ProtobufCMessage **)((Observer__GetNodesResponse *)res)->nodes,
			      ((Observer__GetNodesResponse *)res)->n_nodes);
	else if (a->output == 2)
		r = list_json(
			&w->b,
			(ProtobufCMessage **)((Observer__GetNamespacesResponse *)res)->namespaces,
			((Observer__GetNamespacesResponse *)res)->n_namespaces);
	else if (nodes)
		r = list_nodes_table(&w->b, (Observer__GetNodesResponse *)res, a->output == 1);
	else
		r = list_namespaces_table(&w->b, (Observer__GetNamespacesResponse *)res,
					  a->output == 1);
	protobuf_c_message_free_unpacked(res, NULL);
	return r ? 1 : 0;
}

int list_main(int argc, char **argv)
{
	struct list_args a = {0};
	struct opt_group g[2] = {{NULL, list_opts, &a}, {"Connection:", conn_opts_table, &a.conn}};
	struct out w = OUT_INIT(1);
	struct errmsg e = {""};
	const char *what = argc > 1 ? argv[1] : NULL;
	bool nodes = what && (!strcmp(what, "nodes") || !strcmp(what, "node"));
	int shift = what && what[0] != '-', r;

	conn_opts_init(&a.conn);
	r = opts_parse(argc - shift, argv + shift, g, 2, &e);
	if (r >= 0 && r < argc - shift)
		r = errmsg_set(&e, -EINVAL, "unexpected argument '%s'", argv[r + shift]);
	if (r >= 0 && !a.help && (!shift || (!nodes && strcmp(what, "namespaces"))))
		r = errmsg_set(&e, -EINVAL,
			       "list what? use `flowctl list nodes` or `flowctl list "
			       "namespaces`");
	if (r >= 0 && !a.help)
		r = conn_check(&a.conn, &e);
	if (r < 0) {
		fprintf(stderr, "flowctl: %s\nTry 'flowctl list --help'.\n", e.text);
		conn_opts_free(&a.conn);
		return 2;
	}
	if (a.help) {
		r = buf_puts(&w.b, "Usage: flowctl list nodes|namespaces [OPTIONS]\n"
				   "Lists the server's nodes (GetNodes) or the namespaces of its "
				   "flows (GetNamespaces).\n\n")
			    ?: opts_help(&w.b, g, 2);
	} else {
		r = list_call(&a, nodes, &w);
	}
	conn_opts_free(&a.conn);
	out_flush(&w);
	if (w.err && !out_closed(&w)) {
		fprintf(stderr, "flowctl: cannot write the output: %s\n", strerror(-w.err));
		r = 1;
	}
	out_free(&w);
	return r;
}
