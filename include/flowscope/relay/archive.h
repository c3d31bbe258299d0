/* The relay's archive: the cluster's history in ClickHouse (the exporters' table), for replays
 * that reach before what the relay holds (flowrelay --history-clickhouse URL). */
#ifndef FLOWSCOPE_RELAY_ARCHIVE_H
#define FLOWSCOPE_RELAY_ARCHIVE_H

#include "flowscope/base/errmsg.h"
#include "flowscope/exporters/clickhouse_http.h"
#include "flowscope/serve/follower.h"

struct relay_archive;

/* The archive in t's table (ch_target_from_options: resolved). Returns 0 or -ENOMEM. */
int relay_archive_new(struct relay_archive **out, const struct ch_target *t);
void relay_archive_free(struct relay_archive *a);

/* What the relay's follower hub reads it with (follower_hub_set_archive). */
struct follower_archive relay_archive_ops(struct relay_archive *a);

#endif /* FLOWSCOPE_RELAY_ARCHIVE_H */
