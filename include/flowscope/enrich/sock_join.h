/* Joins a flow to the local sockets of its two ends (sock_table.h): the process and container
 * of each end that is a local socket, and for TCP the RTT, retransmits, cookie and close of
 * those sockets. What the collector does to every flow it publishes. */
#ifndef FLOWSCOPE_ENRICH_SOCK_JOIN_H
#define FLOWSCOPE_ENRICH_SOCK_JOIN_H

#include "flowscope/enrich/cgroup_path.h"
#include "flowscope/enrich/sock_table.h"
#include "flowscope/flow.h"

/* TCP: the initiator's socket has the flow's source as local end and the destination as
 * remote end, the responder's the other way round (both, on loopback). UDP: an end is the
 * bound UDP socket that receives what is sent to its address and port. Of sockets with the
 * same tuple in several namespaces, the one of the namespace that owns the end's address
 * (flowd's own for loopback flows) is taken, else the newest. cn (NULL: none) names the
 * containers. An end that stays unnamed although it may be local (its address is a local one;
 * for UDP also when neither end is known) asks the table for a rescan (sock_table_ask_scan);
 * a TCP flow whose SYN was seen only when it ends so. */
void sock_join_flow(struct sock_table *t, struct cgroup_names *cn, struct flow *f);

#endif /* FLOWSCOPE_ENRICH_SOCK_JOIN_H */
