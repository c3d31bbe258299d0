/* Published flows sent to a syslog server (rsyslog, syslog-ng, a SIEM collector): RFC 5424
 * messages, one flow event per message, over UDP (one message per datagram), TCP (RFC 6587
 * octet-counting framing: "LEN SP MSG") or TLS (RFC 5425: the same framing over TLS 1.2+).
 *
 * Message: "<PRI>1 TIMESTAMP HOSTNAME flowd PID flow - MSG" with facility local0 and severity
 * info (PRI 134), or warning for drops (PRI 132: verdict DROPPED or a drop event). TIMESTAMP is
 * the flow event's wall-clock time in RFC 3339 with microseconds, UTC ("...T12:00:00.123456Z").
 * MSG is either the flow's canonical JSON line without its newline (flow_pb_json_line(): one
 * observer.GetFlowsResponse) or a CEF record:
 *   CEF:0|Flowscope|flowd|0.1|flow|Network flow|3|src=A dst=B spt=P dpt=Q proto=TCP
 *   act=FORWARDED|DROPPED in=<bytes received> out=<bytes sent> start=<ms> end=<ms>
 * (from the source's point of view; spt/dpt only for TCP, UDP and SCTP; '\', '=' and newlines
 * escaped in extension values, '\' and '|' in header fields).
 *
 * TLS (OpenSSL) implies TCP. The handshake is non-blocking, driven by flush. The server's
 * certificate is always verified: against tls_ca (else the system's default CA paths), and its
 * name against tls_server_name (default host; an IP address is matched against IP SANs). A
 * handshake or verification failure is not fatal: it is logged once on stderr, counted in
 * connect_failures, and the connection is retried like a TCP one (at most once a second; messages
 * stay queued). An optional client certificate (tls_cert + tls_key) is presented when asked.
 *
 * Delivery: syslog_exporter_add() only queues (it never blocks); syslog_exporter_flush() sends
 * what the non-blocking socket takes. While a TCP connection is down, messages stay queued (up
 * to max_buffer bytes; beyond, new messages are dropped and counted) and flush reconnects, at
 * most once a second. A message partially sent when the connection broke is re-sent whole on
 * the next connection. Bytes the kernel accepted on a connection that then broke cannot be
 * recovered (plain TCP syslog has no application acknowledgement); before sending, flush checks
 * whether the peer closed the connection, which catches the common case of a restarted server.
 * Over UDP a datagram the kernel refuses with an error other than EAGAIN/ENOBUFS is dropped.
 *
 * Not thread-safe: call everything from one thread (flowd's loop). */
#ifndef FLOWSCOPE_SYSLOG_EXPORTER_H
#define FLOWSCOPE_SYSLOG_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/flow.h"

struct syslog_exporter;

struct syslog_exporter_opts {
	const char *host;     /* numeric IPv4 or IPv6 address */
	uint16_t port;	      /* 0: 514 */
	bool tcp;	      /* else UDP */
	bool cef;	      /* else JSON */
	const char *hostname; /* HOSTNAME field; NULL or "": gethostname() */
	size_t max_buffer;    /* bytes queued at most (e.g. while TCP is down); 0: 4 MiB */
	bool tls;	      /* RFC 5425 syslog over TLS (implies tcp) */
	const char *tls_ca;   /* PEM CA bundle to verify the server; NULL: system defaults */
	const char *tls_cert, *tls_key; /* PEM client certificate (chain) and key, optional */
	const char *tls_server_name;	/* name (or IP) the certificate must match; default host */
};

/* Creates the socket and, for TCP, starts a non-blocking connect (a server that is not up yet
 * is not an error: flush retries). TLS: loads the CA bundle and client certificate (an
 * unreadable file is an error). Returns 0 or a negative errno with a message in err. */
int syslog_exporter_open(struct syslog_exporter **out, const struct syslog_exporter_opts *o,
			 char *err, size_t errlen);
/* Formats and queues one message for f (never blocks). Returns 0, -ENOBUFS when the queue is full
 * (the message is dropped and counted) or another negative errno (also counted as dropped). */
int syslog_exporter_add(struct syslog_exporter *e, const struct flow *f, const char *node_name);
/* Sends what it can without blocking; reconnects TCP (at most once a second) when down and drives
 * the TLS handshake. Returns 0 when the queue is empty, -EAGAIN when something is left (socket
 * full, connecting, handshaking or down). */
int syslog_exporter_flush(struct syslog_exporter *e);
/* Flushes with a bounded wait (up to 2 s), then closes; what is left is counted as dropped.
 * NULL is ignored. */
void syslog_exporter_close(struct syslog_exporter *e);

struct syslog_exporter_stats {
	uint64_t sent;	       /* messages handed to the kernel whole */
	uint64_t dropped;      /* messages lost: queue full, encoding or UDP send error, close */
	uint64_t reconnects;   /* TCP connections established after the first one */
	uint64_t queued_bytes; /* bytes waiting to be sent */
	uint64_t connect_failures; /* TCP/TLS connection attempts that failed (refused, TLS
				    * handshake, certificate verification) */
};

void syslog_exporter_get_stats(const struct syslog_exporter *e, struct syslog_exporter_stats *st);

#endif /* FLOWSCOPE_SYSLOG_EXPORTER_H */
