/* The peers a flowd tells a relay about and Hubble's peer.Peer/Notify over them: this node
 * (its name, the address it advertises, its TLS server name when it serves TLS), the peers
 * given on the command line ("[NAME=]ADDR:PORT") and those of a peers file (one such line
 * each, '#' comments), which is watched and reloaded: a Notify stream gets every peer as
 * PEER_ADDED first, then PEER_DELETED / PEER_UPDATED / PEER_ADDED for what a reload changed.
 * A file that does not parse changes nothing (the reason names its line). */
#ifndef FLOWSCOPE_SERVE_PEERS_H
#define FLOWSCOPE_SERVE_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "flowscope/base/errmsg.h"
#include "flowscope/base/opts.h"
#include "flowscope/pipeline/agent_events.h"
#include "flowscope/serve/grpc_server.h"

#define PEERS_MAX 4096
#define PEER_NAME_LEN 253	    /* the longest name, as DNS names go */
#define PEER_ADDR_MAX 264	    /* "[" 253 "]:65535" and NUL, rounded */
#define PEER_NAME_MAX PEER_ADDR_MAX /* a peer without a name is named by its address */

struct peer {
	char name[PEER_NAME_MAX];	     /* what identifies the peer across changes */
	char address[PEER_ADDR_MAX];	     /* "HOST:PORT" or "[V6]:PORT" */
	char tls_server_name[PEER_NAME_MAX]; /* "": plaintext */
	bool tls;			     /* given as tls://ADDR: serves TLS */
};

/* "[NAME=]ADDR:PORT" or "[NAME=]tls://ADDR:PORT" (without a name, a peer is named by its
 * address). 0 or -EINVAL with e saying what is wrong and what is expected. */
int peer_parse(const char *spec, struct peer *out, struct errmsg *e);
/* An address a relay can connect to: "HOST:PORT" (a DNS name or IPv4 address) or
 * "[V6]:PORT", not a wildcard; written to out in that form. 0 or -EINVAL with e set. */
int peer_parse_address(const char *s, char *out, size_t len, struct errmsg *e);
/* A peer name or TLS server name: 1 to 253 of letters, digits, '-', '_', '.', '/'. */
int peer_check_name(const char *s, struct errmsg *e);

/* A node's options for relays (--advertise, --tls-server-name, --peer, --peers-file), checked
 * as they are parsed: an option group ("Relays:") for a binary's table. */
#define PEERS_MAX_SPECS 256
struct peers_cfg {
	char advertise[PEER_ADDR_MAX]; /* "": the binary's default (its gRPC address) */
	const char *tls_server_name;   /* NULL: the node name */
	const char *file;
	const char *specs[PEERS_MAX_SPECS];
	size_t n_specs;
};
struct opt_group peers_opt_group(struct peers_cfg *cfg);

struct peers_opts {
	struct peer self;	  /* this node */
	const char *const *specs; /* --peer (n_specs of them) */
	size_t n_specs;
	const char *file; /* --peers-file, or NULL */
	bool tls;	  /* the peers serve TLS (as this node does): server name = name */
	struct agent_events *agent; /* reloads and refusals are posted here (NULL: not) */
	/* Told of each peer in force at the start (old NULL) and of every change a reload makes:
	 * deleted (now NULL), updated (both), added (old NULL), in that order. */
	void (*on_change)(const struct peer *old, const struct peer *now, void *ctx);
	void *change_ctx;
};

struct peers;

/* Reads the specs and the file and watches the file on loop. Returns 0, or -EINVAL (a bad
 * spec or line, a name or address given twice: e says which) or another negative errno. */
int peers_start(struct peers **out, uv_loop_t *loop, const struct peers_opts *o, struct errmsg *e);
/* Reads the file again now: 0 with the changes sent to every Notify stream, or a negative
 * errno with e naming the line; the peers in force stay then. */
int peers_reload(struct peers *p, struct errmsg *e);
/* The peers in force (this node not counted). */
size_t peers_count(const struct peers *p);
/* Detaches the Notify streams still open and frees p once the loop ran; NULL is ignored. */
void peers_stop(struct peers *p);

/* /peer.Peer/Notify (a NotifyRequest in msg): answers the call, which stays open. */
void peers_notify(struct peers *p, struct grpc_call *call, const uint8_t *msg, size_t len);

#endif /* FLOWSCOPE_SERVE_PEERS_H */
