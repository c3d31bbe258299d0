/* The exporter contract: what every push exporter (file, syslog, IPFIX, and ClickHouse next) is
 * to flowd. An exporter is one file defining one struct exporter_type: its options, how it
 * opens, takes a flow event, flushes, reloads and closes, and its counters. Everything the
 * exporters share is done here, once: which flow events an exporter wants, the allow/deny
 * filters (--export-allow/--export-deny), the field mask (--export-fields) and the count of
 * filtered events. Adding an exporter is that one file plus one line in
 * export/exporters/registry.c. */
#ifndef FLOWSCOPE_EXPORTERS_EXPORTER_H
#define FLOWSCOPE_EXPORTERS_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"
#include "flowscope/base/opts.h"
#include "flowscope/flow.h"

/* The same counters for every exporter. */
struct exporter_stats {
	uint64_t written;  /* events delivered (to the file, the kernel, the peer) */
	uint64_t filtered; /* events the allow/deny filters kept back (counted by the contract) */
	uint64_t dropped;  /* events lost: queue full, encoding, write or send errors, shutdown */
	uint64_t errors;   /* failed operations (a write, a send, a connection attempt) */
	uint64_t queued;   /* bytes taken and not yet delivered */
	/* The exporter's own counters (rotations, reconnects, ...), shown in /metrics too. */
	unsigned int n_extra;
	struct {
		const char *name;
		uint64_t value;
	} extra[4];
};

/* One flow event as an exporter gets it. */
struct export_event {
	const struct flow *flow;
	const char *node_name;
	/* The contract's: the JSON line, encoded once per event for every exporter. */
	struct export_event_cache *cache;
};

/* The event's canonical JSON line (one observer.GetFlowsResponse, as the API and `hubble observe
 * -o json` have it, '\n' ended) with the field mask applied. Valid while take() runs. NULL on
 * ENOMEM. */
const struct buf *export_event_json(struct export_event *ev);

/* What an exporter is opened with besides its own options. */
struct exporter_env {
	const char *node_name;
	char *const *node_labels; /* "key=value", for node_labels filters; kept by pointer */
	size_t n_node_labels;
	uv_loop_t *loop;
};

struct exporter_type {
	const char *name;  /* "file": in metrics and messages */
	const char *title; /* its options' heading in --help */
	/* Its flowd options, filling its config (the opt entries' offsets are into it). */
	const struct opt *opts;
	size_t config_size;
	void (*config_init)(void *cfg);	  /* defaults; NULL: all zero */
	bool (*enabled)(const void *cfg); /* the options ask for this exporter */
	uint32_t events; /* flow events it takes (1u << FLOW_EVENT_*); 0: every one */
	/* Returns 0 or a negative errno with e set ("opening /x: Permission denied"). */
	int (*open)(void **state, const void *cfg, const struct exporter_env *env,
		    struct errmsg *e);
	/* Takes one event without blocking (queue, buffer or send). Returns 0 or a negative errno;
	 * the exporter counts its written, dropped and errors itself. */
	int (*take)(void *state, struct export_event *ev);
	/* Delivers what it can without blocking (sync: make it durable too); flowd calls it every
	 * second and at shutdown. Returns 0, -EAGAIN when something is left, or a negative errno.
	 */
	int (*flush)(void *state, bool sync);
	/* SIGHUP: reopen files moved away (logrotate) without losing an event; NULL: nothing to do.
	 * On error the exporter goes on as before. */
	int (*reload)(void *state, struct errmsg *e);
	/* Delivers what it holds within a bounded time (what is left counts as dropped), frees. */
	void (*close)(void *state);
	void (*stats)(const void *state, struct exporter_stats *st);
};

/* The registry: every exporter flowd can run, NULL-terminated (export/exporters/registry.c). */
extern const struct exporter_type *const exporter_types[];

/* The exporters one flowd runs, under one filter and one field mask. */
struct exporter_set;

struct exporter_set *exporter_set_new(void);

/* The options of the set (--export-allow, --export-deny, --export-fields) and of every registered
 * exporter, as groups for the binary's option table: fills up to max, returns how many. The
 * values go into the set. */
size_t exporter_set_opt_groups(struct exporter_set *s, struct opt_group *out, size_t max);

/* Sets one option by its long name (without "--") as if given on the command line: for
 * programs and tests that configure exporters without argv. arg is NULL for flags. Like argv's,
 * string values are kept by pointer: they must live until exporter_set_open() has returned. */
int exporter_set_option(struct exporter_set *s, const char *name, const char *arg,
			struct errmsg *e);

/* Compiles the filters and the field mask and opens every exporter whose options were given.
 * Returns 0 or a negative errno with e naming the option ("--export-allow: invalid to_port
 * 'x': ..."); nothing is left open then. */
int exporter_set_open(struct exporter_set *s, const struct exporter_env *env, struct errmsg *e);

/* Exporters open. */
size_t exporter_set_count(const struct exporter_set *s);

/* Hands one flow event to every open exporter that wants it and whose filters pass it. Returns 0
 * or the first exporter's negative errno (each counted by that exporter). */
int exporter_set_take(struct exporter_set *s, const struct flow *f);

void exporter_set_flush(struct exporter_set *s, bool sync);
/* SIGHUP for every exporter; the first error goes to e (each exporter goes on as before). */
int exporter_set_reload(struct exporter_set *s, struct errmsg *e);

/* The i-th open exporter's name and counters (i < exporter_set_count()). */
const char *exporter_set_stats(const struct exporter_set *s, size_t i, struct exporter_stats *st);

/* Closes every exporter (each delivers what it holds first) and frees the set. NULL is ignored. */
void exporter_set_free(struct exporter_set *s);

#endif /* FLOWSCOPE_EXPORTERS_EXPORTER_H */
