/* Internal to the relay: one agent, read by two threads of its own (a stream thread following its
 * flow events, an info thread asking its status, nodes, namespaces and peers every few seconds),
 * which hand what they get to the relay's loop through a locked queue and a uv_async. The loop
 * owns everything else about the node (relay.c). */
#ifndef FLOWSCOPE_RELAY_NODE_H
#define FLOWSCOPE_RELAY_NODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "flowscope/base/pb_arena.h"
#include "flowscope/base/grpc_client.h"
#include "flowscope/flow.h"
#include "flowscope/relay/relay.h"
#include "observer.pb-c.h"

/* What a node's threads hand to the loop. */
enum node_msg_kind {
	NODE_MSG_FLOWS,	    /* a GetFlowsResponse of the follow stream, unpacked (pb) */
	NODE_MSG_UP,	    /* the stream is established */
	NODE_MSG_DOWN,	    /* the stream failed or ended: text says why */
	NODE_MSG_INFO,	    /* status, name, version: the info fields below */
	NODE_MSG_INFO_FAIL, /* the info thread could not reach the node: text says why */
	NODE_MSG_PEER,	    /* a peer the node told of: text is "NAME ADDRESS", kind in peer_type */
	NODE_MSG_AGENT,	    /* an agent event of the node: type in peer_type, name in query,
			       notification in text, time in time_ns */
};

struct node_msg {
	struct node_msg *next;
	enum node_msg_kind kind;
	uint64_t rx_ns;		      /* boot ns: when the node's thread queued it */
	int peer_type;		      /* PEER: peer.ChangeNotificationType; AGENT: its type */
	uint64_t time_ns;	      /* AGENT: the event's time */
	char text[640];		      /* DOWN, INFO_FAIL, PEER */
	struct relay_node_info *info; /* INFO */
	/* FLOWS: the response, and when it carries a flow, that flow decoded (its strings point
	 * into pb, its DNS query into query). pb is unpacked into arena, freed with the message:
	 * one allocation instead of one per part, made by the node's thread and freed by the
	 * loop's (malloc and free of the parts were a third of the relay's time, perf). */
	Observer__GetFlowsResponse *pb;
	struct pb_arena arena;
	bool has_flow;
	struct flow f;
	char query[256];
};

struct relay_node {
	/* Set before the threads start, read-only for them. */
	struct relay *relay;
	unsigned int index;
	char address[300]; /* as configured: HOST:PORT or tls://HOST:PORT */
	struct grpc_client_opts copts;
	char host[256];
	uint32_t heartbeat_ms;
	uint64_t backfill;
	bool discover; /* ask its peers */
	uv_async_t *wake;
	/* Shared with the threads, under lock. */
	pthread_mutex_t lock;
	struct node_msg *head, *tail;
	size_t queued;
	volatile int stop;	/* the node is being removed */
	volatile int reconnect; /* the loop wants the stream reconnected (no heartbeat) */
	char resume_after[40];	/* the stream thread's: the uuid of the last event it got */
	bool stream_up;		/* the stream thread's: the current stream answered */
	uint64_t agent_since;	/* the info thread's: agent events up to this time are taken */
	volatile int held;	/* the stream thread waits for the loop (its queue is full) */
	pthread_t stream_thread, info_thread;
	bool threads;
	/* The loop's own. */
	struct relay_node_info info;
	struct flow_origin origin;
	uint64_t watermark_ns;	  /* no event of the stream will be older than this */
	uint64_t last_msg_ns;	  /* boot ns the latest message or heartbeat arrived */
	struct node_msg *backlog; /* taken from the queue, not yet handled (a busy loop's) */
	bool up;
	bool removed;
};

/* Starts the node's threads. Returns 0 or a negative errno. */
int node_start(struct relay_node *n);
/* Frees one message (and the response it holds). */
void node_msg_free(struct node_msg *m);
/* Stops and joins the threads, frees what is queued. */
void node_stop(struct relay_node *n);
/* The messages queued since the last call, oldest first (the caller frees each). */
struct node_msg *node_take(struct relay_node *n);

#endif /* FLOWSCOPE_RELAY_NODE_H */
