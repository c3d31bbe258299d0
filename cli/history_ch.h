/* Internal to flowctl: `flowctl observe --history-clickhouse URL`: the events of --since/--until,
 * --first/--last or --all from the ClickHouse table flowd's exporter fills (the whole cluster's
 * history), selected with the same filters (in SQL where they translate, in C otherwise) and
 * printed by the same printer as the server's, in every output format. With --follow the
 * stream then goes on live from the server, from the time of the last event printed, without
 * printing that event (or another of its instant) twice. */
#ifndef FLOWSCOPE_CLI_HISTORY_CH_H
#define FLOWSCOPE_CLI_HISTORY_CH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/encode/flow_pb.h"
#include "observe.h"
#include "observer.pb-c.h"
#include "print.h"

/* What the history printed last: its time and the uuids printed at that time. */
struct history_seen {
	uint64_t last_ns;
	uint8_t (*uuids)[16];
	size_t n, cap;
	struct flow_pb_mask *mask; /* --field-mask, for -o jsonpb */
	struct printer *p;
	volatile int *stop;
};

/* Prints what a asks of the history. Returns 0, or 1 with the reason printed (ClickHouse
 * unreachable, an error answer, a table that is not ours). */
int history_run(struct observe_args *a, struct printer *p, volatile int *stop,
		struct history_seen *seen);

/* The live request that continues the history: req (a's) following from the last time printed
 * (a's --since when nothing was), without a replay count. */
void history_follow_request(const struct history_seen *seen, Observer__GetFlowsRequest *req,
			    Google__Protobuf__Timestamp *since);

/* A grpc_client_msg_cb (ctx: the history_seen) printing the live stream without the events the
 * history printed already. */
int history_follow_msg(const uint8_t *msg, size_t len, void *ctx);

void history_seen_free(struct history_seen *s);

#endif /* FLOWSCOPE_CLI_HISTORY_CH_H */
