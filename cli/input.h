/* Internal to flowctl: `flowctl observe --input-file FILE` (Hubble's --input-file): flows read
 * from GetFlowsResponse JSON lines (what `-o jsonpb` prints, flowctl's or hubble's) instead of
 * a server, selected with the same flags. A flow is turned back into the collector's struct
 * flow and matched by the filter code flowd itself runs (collector/filter/flow_filter.c), so a
 * filter means the same on a file as on the server; the identities the file's flows carry
 * (namespace, pod, labels, service, workload, numeric identity) stand in for flowd's identity
 * file while their flow is matched. */
#ifndef FLOWSCOPE_CLI_INPUT_H
#define FLOWSCOPE_CLI_INPUT_H

#include <stdio.h>

#include "flowscope/flow.h"
#include "observe.h"
#include "print.h"

/* Reads in (named name, for messages) to its end and prints what a reads and selects: --since
 * and --until on each response's time, the filters, --first N, --last N (of the file), else
 * everything. Lines that are no GetFlowsResponse are reported on stderr and skipped, as Hubble
 * does; unknown fields are skipped with one warning. Stops early when *stop becomes non-zero
 * or the output fails. Returns 0, or a negative errno when reading fails (message printed). */
int input_run(struct observe_args *a, FILE *in, const char *name, struct printer *p,
	      volatile int *stop);

/* Whether a flow passes a's filters, matched as flowd matches them, with the file's
 * identities of pb's ends in force. */
bool input_match(struct observe_args *a, const Flow__Flow *pb, const char *node_name);

/* Frees what input_match() keeps between calls (the identity table it put in force). */
void input_cleanup(void);

#endif /* FLOWSCOPE_CLI_INPUT_H */
