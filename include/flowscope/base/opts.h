/* Command-line options from tables: each entry names an option, its argument and its help and
 * says how its value is parsed and where it goes, so parsing and --help come from one place
 * and cannot disagree. A binary lists its groups (its own, and those of the modules it wires,
 * such as each exporter's); opts_parse() and opts_help() walk them. */
#ifndef FLOWSCOPE_BASE_OPTS_H
#define FLOWSCOPE_BASE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/errmsg.h"

struct opt;

/* Stores (or acts on) one occurrence. arg is NULL for options without an argument. base is the
 * group's base pointer. Returns 0 or a negative errno with the message in e. */
typedef int (*opt_fn)(const struct opt *o, const char *arg, void *base, struct errmsg *e);

struct opt {
	const char *name; /* long name without "--"; NULL ends a table */
	int short_name;	  /* 'i', or 0 */
	const char *arg;  /* the argument's name in --help ("DUR"); NULL: takes no argument */
	const char *help; /* '\n' starts a continuation line */
	opt_fn parse;
	size_t off;	   /* where in the group's base the value goes */
	uint64_t min, max; /* bounds of numbers, durations and sizes (max 0: no upper bound) */
	const void *data;  /* parser-specific (the accepted words of opt_word) */
};

struct opt_group {
	const char *title; /* heading in --help ("Filters:"), or NULL */
	const struct opt *opts;
	void *base;
};

/* Parsers. Each one's error says what the option takes, in the form
 * "invalid --NAME 'VALUE': use ...". */
int opt_string(const struct opt *o, const char *arg, void *base, struct errmsg *e); /* char * */
int opt_flag(const struct opt *o, const char *arg, void *base, struct errmsg *e);   /* bool */
int opt_u64(const struct opt *o, const char *arg, void *base, struct errmsg *e);    /* uint64_t */
int opt_u32(const struct opt *o, const char *arg, void *base, struct errmsg *e);    /* uint32_t */
int opt_duration(const struct opt *o, const char *arg, void *base,
		 struct errmsg *e); /* uint64_t ns, > 0 */
int opt_size(const struct opt *o, const char *arg, void *base, struct errmsg *e); /* uint64_t */
/* An index into the NULL-terminated word list in data (int; words match in any case). */
int opt_word(const struct opt *o, const char *arg, void *base, struct errmsg *e);

/* ADDR:PORT into a struct opt_hostport. */
struct opt_hostport {
	char host[256];
	uint16_t port;
	bool set;
};
int opt_hostport(const struct opt *o, const char *arg, void *base, struct errmsg *e);

/* A repeatable option's values, in the order given (at most OPT_LIST_MAX). */
#define OPT_LIST_MAX 16
struct opt_list {
	const char *v[OPT_LIST_MAX];
	size_t n;
};
int opt_list(const struct opt *o, const char *arg, void *base, struct errmsg *e);

/* Parses argv[1..] (getopt_long order: options and operands may mix; "--" ends options).
 * Returns the index in argv of the first operand (argc when there is none) or a negative errno
 * with e set: an unknown option, a missing argument, or a parser's refusal. */
int opts_parse(int argc, char **argv, const struct opt_group *groups, size_t n_groups,
	       struct errmsg *e);

/* Appends every group's title and options, aligned, one option per entry. Returns 0 or
 * -ENOMEM. */
int opts_help(struct buf *out, const struct opt_group *groups, size_t n_groups);

#endif /* FLOWSCOPE_BASE_OPTS_H */
