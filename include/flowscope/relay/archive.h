/* The relay's archive: the cluster's history in ClickHouse (the exporters' table), for replays
 * that reach before what the relay holds (flowrelay --history-clickhouse URL). */
#ifndef FLOWSCOPE_RELAY_ARCHIVE_H
#define FLOWSCOPE_RELAY_ARCHIVE_H

#include "flowscope/base/errmsg.h"
#include "flowscope/serve/follower.h"

struct relay_archive;

/* The archive at url (http://HOST:PORT[/?database=DB]), its table (NULL: flows), user and
 * password (NULL: none); the host is resolved now. Returns 0 or a negative errno with e set. */
int relay_archive_new(struct relay_archive **out, const char *url, const char *table,
		      const char *user, const char *password, struct errmsg *e);
void relay_archive_free(struct relay_archive *a);

/* What the relay's follower hub reads it with (follower_hub_set_archive). */
struct follower_archive relay_archive_ops(struct relay_archive *a);

#endif /* FLOWSCOPE_RELAY_ARCHIVE_H */
