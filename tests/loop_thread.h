/* A flow source (store, bus, collector, followers, graph, status) on a libuv loop that runs in
 * its own thread, for the server tests and the export benchmark: set it up, start the servers
 * on it, start the thread, run jobs on the loop from the test thread, stop. Header-only; any
 * failure of the harness itself aborts. */
#ifndef FLOWSCOPE_TESTS_LOOP_THREAD_H
#define FLOWSCOPE_TESTS_LOOP_THREAD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "flowscope/graph/graph.h"
#include "flowscope/pipeline/collector.h"
#include "flowscope/serve/follower.h"
#include "flowscope/serve/status.h"

#define LOOP_THREAD_NODE "testnode"

struct loop_thread {
	uv_loop_t loop;
	uv_async_t async;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*job)(void *);
	void *job_arg;
	int job_done, stopping, running;
	/* Runs on the loop when stopping: stop the servers started on it. */
	void (*on_stop)(void *ctx);
	void *stop_ctx;
	struct flow_store *store;
	struct event_log *events;
	struct flow_bus *bus;
	struct collector *col;
	struct follower_hub *hub;
	struct graph *graph;
	struct flow_bus_sub *graph_sub;
	struct status_src status;
};

#define LT_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: harness failure: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void lt_on_graph_flow(const struct flow *f, void *ctx)
{
	graph_add_flow(ctx, f);
}

static void lt_on_async(uv_async_t *h)
{
	struct loop_thread *t = h->data;

	pthread_mutex_lock(&t->mu);
	if (t->job) {
		t->job(t->job_arg);
		t->job = NULL;
		t->job_done = 1;
		pthread_cond_broadcast(&t->cv);
	}
	pthread_mutex_unlock(&t->mu);
	if (t->stopping) {
		if (t->on_stop)
			t->on_stop(t->stop_ctx);
		if (t->graph_sub)
			flow_bus_unsubscribe(t->bus, t->graph_sub);
		uv_close((uv_handle_t *)&t->async, NULL);
	}
}

/* The loop and the flow source (a store of max_flows; with_graph: a graph fed from the bus),
 * not running yet: start servers on t->loop, then loop_thread_start(). */
static inline void loop_thread_init(struct loop_thread *t, size_t max_flows, bool with_graph)
{
	struct collector_opts co = {0};

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	LT_CHECK(uv_loop_init(&t->loop) == 0);
	LT_CHECK(uv_async_init(&t->loop, &t->async, lt_on_async) == 0);
	t->async.data = t;
	t->store = flow_store_new(max_flows);
	t->events = event_log_new(max_flows);
	t->bus = flow_bus_new();
	LT_CHECK(t->store && t->events && t->bus);
	co.store = t->store;
	co.events = t->events;
	co.bus = t->bus;
	co.node_name = LOOP_THREAD_NODE;
	t->col = collector_new(&co);
	t->hub = follower_hub_new(t->store, t->events, t->bus, LOOP_THREAD_NODE, &t->loop);
	LT_CHECK(t->col && t->hub);
	if (with_graph) {
		t->graph = graph_new(NULL);
		LT_CHECK(t->graph);
		t->graph_sub = flow_bus_subscribe(t->bus, lt_on_graph_flow, t->graph);
		LT_CHECK(t->graph_sub);
	}
	t->status = (struct status_src){.col = t->col, .followers = t->hub, .graph = t->graph};
}

static void *lt_main(void *arg)
{
	struct loop_thread *t = arg;

	uv_run(&t->loop, UV_RUN_DEFAULT);
	return NULL;
}

static inline void loop_thread_start(struct loop_thread *t)
{
	LT_CHECK(pthread_create(&t->thread, NULL, lt_main, t) == 0);
	t->running = 1;
}

/* Runs fn(arg) on the loop and waits for it. */
static inline void loop_thread_run(struct loop_thread *t, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&t->mu);
	t->job = fn;
	t->job_arg = arg;
	t->job_done = 0;
	uv_async_send(&t->async);
	while (!t->job_done)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

/* Stops the servers (on_stop, on the loop), waits for the loop to end (every handle closed:
 * uv_loop_close must succeed) and frees the flow source. */
static inline void loop_thread_stop(struct loop_thread *t)
{
	t->stopping = 1;
	uv_async_send(&t->async);
	if (t->running)
		pthread_join(t->thread, NULL);
	LT_CHECK(uv_loop_close(&t->loop) == 0);
	follower_hub_free(t->hub);
	collector_free(t->col);
	graph_free(t->graph);
	flow_bus_free(t->bus);
	flow_store_free(t->store);
	event_log_free(t->events);
}

/* A loopback TCP port free now (bind to 0, read, close). */
static inline uint16_t loop_thread_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	LT_CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	LT_CHECK(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* A TCP connection to 127.0.0.1:port from the loopback address src (any of 127.0.0.0/8:
 * another client address for a server's per-client limits). */
static inline int loop_thread_connect_from(const char *src, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in b = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	LT_CHECK(fd >= 0 && inet_pton(AF_INET, src, &b.sin_addr) == 1);
	LT_CHECK(bind(fd, (struct sockaddr *)&b, sizeof(b)) == 0);
	LT_CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

#endif /* FLOWSCOPE_TESTS_LOOP_THREAD_H */
