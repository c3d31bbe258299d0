/* The ClickHouse flow table: its columns (one row per flow event, Hubble's fields and
 * Flowscope's), the CREATE TABLE statement for a server's version, and rows in RowBinary both
 * ways: a collector flow into a row (the exporter) and a row back into a flow that filters,
 * encoders and printers take as they take flowd's (the history queries).
 *
 * Rows are told as Hubble tells events: source is the event's source (a reply's is the flow's
 * responder), packets_sent/bytes_sent are the source's, so that a source_ip or source_port
 * condition in SQL means what Hubble's source_ip filter means. Addresses are FixedString(16),
 * IPv4 mapped into IPv6 (::ffff:a.b.c.d) so one column serves both families. The table:
 *
 *   ENGINE = MergeTree PARTITION BY date
 *   ORDER BY (intDiv(time, 600000000000), node_name, source_ip, destination_ip, time)
 *
 * Partitions are days (UTC), so retention drops whole partitions (ClickHouse 18.16 has no TTL).
 * The sorting key starts with 10-minute buckets of the event time: a query for the last minutes
 * reads at most 10 minutes more than it asked for, and inside a bucket the node and the
 * addresses narrow it further (a query of one node or one address skips the others' granules).
 * Times are UInt64 nanoseconds since the epoch (18.16 has no DateTime64). */
#ifndef FLOWSCOPE_EXPORTERS_CLICKHOUSE_SCHEMA_H
#define FLOWSCOPE_EXPORTERS_CLICKHOUSE_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "flowscope/enrich/identity.h"
#include "flowscope/flow.h"

/* The width of the sorting key's time buckets. */
#define CH_BUCKET_NS 600000000000ULL
#define CH_DAY_NS 86400000000000ULL

/* A server's version, from SELECT version() ("18.16.1"). */
struct ch_version {
	unsigned int major, minor;
};

/* Parses "MAJOR.MINOR[.PATCH...]": 0, or -EINVAL. */
int ch_version_parse(const char *s, size_t len, struct ch_version *v);

/* The columns in row order: name and type (as created on v; NULL: on 18.16). */
size_t ch_schema_n_columns(void);
const char *ch_schema_column(size_t i, const struct ch_version *v, const char **type);

/* Appends "name, name, ..." (every column, in row order). Returns 0 or -ENOMEM. */
int ch_schema_column_list(struct buf *out);

/* Appends the CREATE TABLE IF NOT EXISTS statement of `db`.`table` for a server of version v:
 * the schema above; from 20.1 on, low-cardinality strings and compression codecs (what 18.16
 * does not have). Returns 0 or -ENOMEM. */
int ch_schema_create_sql(struct buf *out, const char *db, const char *table,
			 const struct ch_version *v);

/* A database or table name we quote safely: [A-Za-z_][A-Za-z0-9_]*, at most 64 bytes. */
bool ch_schema_name_ok(const char *name);

/* Appends f's row in RowBinary. node_name and node_labels are this node's (a flow a relay
 * merged has its own node in f->origin, used instead). Returns 0 or -ENOMEM (out is then as it
 * was). */
int ch_row_encode(struct buf *out, const struct flow *f, const char *node_name,
		  char *const *node_labels, size_t n_node_labels);

/* A flow decoded from a row, with everything it points to: its node (f.origin), the identities
 * of its ends as the row carries them (f.src_id, f.dst_id: they stand in for an identity file),
 * names and labels. Valid until the next decode into it; free with ch_flow_free(). */
struct ch_flow {
	struct flow f;
	struct flow_origin origin;
	struct identity ids[2]; /* initiator, responder */
	struct flow_process procs[2];
	char node[256], names[2][256], query[256], containers[2][65];
	struct buf arena;  /* the labels' strings */
	char **labels;	   /* pointers into arena: node labels, then each identity's */
	size_t cap_labels; /* of labels */
};

void ch_flow_free(struct ch_flow *cf);

/* Decodes the row at p (len bytes available) into cf and sets *used to its length. Returns 0,
 * -EAGAIN when the row is not all in p yet, -EBADMSG for one that cannot be ours (a string
 * longer than the table allows, an impossible address family) or -ENOMEM. */
int ch_row_decode(const uint8_t *p, size_t len, size_t *used, struct ch_flow *cf);

/* Days since the epoch (UTC) of a time in ns: the date column. */
static inline uint16_t ch_date_of(uint64_t time_ns)
{
	return (uint16_t)(time_ns / CH_DAY_NS);
}

#endif /* FLOWSCOPE_EXPORTERS_CLICKHOUSE_SCHEMA_H */
