/* Internal to flowctl: how `flowctl observe` prints what the server sends. */
#ifndef FLOWSCOPE_CLI_PRINT_H
#define FLOWSCOPE_CLI_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/buf.h"
#include "observer.pb-c.h"

/* In the order of the --output words. */
enum output { OUT_COMPACT, OUT_JSON, OUT_JSONPB, OUT_DICT, OUT_TABLE };

struct printer {
	enum output out;
	bool table_header_done;
	uint64_t printed;
	struct buf b;
};

/* A grpc_client_msg_cb: prints one GetFlowsResponse (ctx is the struct printer). Returns
 * non-zero (cancelling the call) for a message that is not one. */
int printer_flows_msg(const uint8_t *msg, size_t len, void *ctx);

#endif /* FLOWSCOPE_CLI_PRINT_H */
