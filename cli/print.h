/* Internal to flowctl: how `flowctl observe` prints what the server sends, as Hubble's printer
 * (hubble/pkg/printer) does: compact lines, dict blocks, a table aligned like Go's tabwriter,
 * or one JSON line per GetFlowsResponse; times in UTC in one of Hubble's layouts; colors on
 * compact and dict output; terminal escapes in server strings defused. */
#ifndef FLOWSCOPE_CLI_PRINT_H
#define FLOWSCOPE_CLI_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/base/pb_arena.h"
#include "observer.pb-c.h"
#include "out.h"

/* In the order of printer_output_words. */
enum output { OUT_COMPACT, OUT_DICT, OUT_JSON, OUT_JSONPB, OUT_TABLE, OUT_TAB };
extern const char *const printer_output_words[];

/* Hubble's --time-format names, in the order of printer_time_words (StampMilli first: the
 * default). */
enum time_format {
	TIME_STAMP_MILLI,
	TIME_YEAR_MONTH_DAY,
	TIME_YEAR_MONTH_DAY_HOUR,
	TIME_YEAR_MONTH_DAY_HOUR_MINUTE,
	TIME_RFC3339,
	TIME_RFC3339_MILLI,
	TIME_RFC3339_MICRO,
	TIME_RFC3339_NANO,
	TIME_RFC1123Z,
};
extern const char *const printer_time_words[];

/* --color: auto (a terminal, TERM not dumb, no NO_COLOR), always, never. */
enum color_mode { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };
extern const char *const printer_color_words[];

struct printer {
	/* Set by the caller. */
	enum output out;
	enum time_format time_format;
	bool node_name;	 /* --print-node-name */
	bool numeric;	 /* --numeric: addresses instead of pod, service and DNS names */
	bool color;	 /* resolved: see printer_use_color() */
	struct out *w;	 /* stdout */
	struct out *err; /* stderr: node status notices */
	/* State. */
	uint64_t line; /* records printed */
	/* Table rows, all kept until printer_finish(): a column is as wide as its widest cell. */
	char **cells;
	size_t n_cells, cap_cells;
	struct buf tmp;
	struct pb_arena arena; /* printer_flows_msg's messages (set up at its first) */
};

/* Whether mode means colors on an output going to fd. */
bool printer_use_color(enum color_mode mode, int fd);

/* Prints one response (a flow, lost events, a node status notice). Returns 0, -ENOMEM, or the
 * output's write error. */
int printer_response(struct printer *p, const Observer__GetFlowsResponse *r);

/* Writes what only the end can write (the table). Returns 0 or the output's error. */
int printer_finish(struct printer *p);

void printer_free(struct printer *p);

/* A grpc_client_msg_cb: unpacks and prints one GetFlowsResponse (ctx is the struct printer).
 * Returns non-zero (cancelling the call) for a message that is not one, or when the output
 * failed or was closed. */
int printer_flows_msg(const uint8_t *msg, size_t len, void *ctx);

/* Hubble's names for what a flow shows. */
const char *printer_identity_name(uint32_t id); /* "host", "world", ... or NULL */
void printer_flow_type(const Flow__Flow *f, char *out, size_t len); /* "to-stack", ... */

/* ts in layout (UTC), "N/A" for none. */
void printer_time(const Google__Protobuf__Timestamp *ts, enum time_format layout, char *out,
		  size_t len);

/* Rows of cells laid out as Go's tabwriter.NewWriter(w, 2, 0, 3, ' ', 0) lays out lines of
 * tab-separated cells: row r has n_cells[r] cells, all but its last one tab-terminated. */
int printer_tabwrite(struct buf *out, char *const *const *rows, const size_t *n_cells,
		     size_t n_rows);
/* The same for n_rows rows of n_cols cells each (cells row by row). */
int printer_tabulate(struct buf *out, char *const *cells, size_t n_rows, size_t n_cols);

#endif /* FLOWSCOPE_CLI_PRINT_H */
