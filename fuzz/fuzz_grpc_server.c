/* Fuzz target: the whole gRPC server (nghttp2 session, gRPC framing, every Observer method,
 * health, the follower behind GetFlows) fed one client connection's bytes per input. The
 * server runs once on 127.0.0.1 with a few flows stored; each input is sent on a new loopback
 * connection (after the HTTP/2 client preface unless the first byte is odd), the client's side
 * is shut, and the loop runs until the server has closed the connection. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "loop_thread.h"
#include "flowscope/serve/grpc_server.h"
#include "flowscope/serve/observer.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static struct {
	struct loop_thread t;
	struct grpc_server *srv;
	struct observer obs;
	uint16_t port;
} S;

static void inject(int n)
{
	struct timespec ts;
	int i;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	for (i = 0; i < n; i++) {
		struct flow_record r;

		memset(&r, 0, sizeof(r));
		r.type = FLOW_REC_TC;
		r.version = FLOW_RECORD_VERSION;
		r.events = FLOW_EV_START;
		r.key.addr[0][0] = 10;
		r.key.addr[0][3] = 1;
		r.key.addr[1][0] = 10;
		r.key.addr[1][3] = 2;
		r.key.port[0] = (uint16_t)(40000 + i);
		r.key.port[1] = i & 1 ? 53 : 443;
		r.key.ifindex = 1;
		r.key.proto = i & 1 ? IPPROTO_UDP : IPPROTO_TCP;
		r.key.family = 4;
		r.ts_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		r.pkt_len = 100;
		r.tc_dir = FLOW_TC_EGRESS;
		r.state.first_seen_ns = r.ts_ns;
		r.state.packets[0] = 1;
		r.state.bytes[0] = 100;
		if (collector_handle_record(S.t.col, &r, sizeof(r)))
			abort();
	}
}

static void start(void)
{
	struct grpc_server_opts o = {.addr = "127.0.0.1", .max_request_bytes = 64 * 1024};
	struct grpc_service svc;
	struct errmsg e = {""};
	int err = -1, tries;

	loop_thread_init(&S.t, 1024, false);
	S.obs = (struct observer){.followers = S.t.hub, .status = &S.t.status};
	svc = observer_service(&S.obs);
	for (tries = 0; tries < 20 && err; tries++) {
		S.port = o.port = loop_thread_free_port();
		err = grpc_server_start(&S.srv, &S.t.loop, &o, &svc, &e);
	}
	if (err)
		abort();
	inject(8);
}

static int client(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(S.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS))
		abort();
	return fd;
}

/* One turn: the loop once, then what the server wrote read and dropped. Returns false once
 * the server closed the connection. */
static bool turn(int fd)
{
	char sink[65536];
	ssize_t n;

	uv_run(&S.t.loop, UV_RUN_NOWAIT);
	for (;;) {
		n = recv(fd, sink, sizeof(sink), 0);
		if (n > 0)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN);
	}
}

static bool send_all(int fd, const uint8_t *p, size_t n)
{
	int turns = 0;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) {
			return false; /* the server closed: what it said was enough */
		}
		if (!turn(fd) || ++turns > 100000)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd, i;

	if (!size)
		return 0;
	fuzz_quiet();
	if (!S.srv)
		start();
	fd = client();
	if ((data[0] & 1 || send_all(fd, (const uint8_t *)preface, sizeof(preface) - 1)) &&
	    send_all(fd, data + 1, size - 1))
		shutdown(fd, SHUT_WR);
	else
		shutdown(fd, SHUT_RDWR);
	for (i = 0; i < 2000 && turn(fd); i++)
		if (i > 100)
			poll(NULL, 0, 1); /* a timer of the server's (a heartbeat) may be due */
	close(fd);
	for (i = 0; i < 8; i++)
		uv_run(&S.t.loop, UV_RUN_NOWAIT);
	return 0;
}
