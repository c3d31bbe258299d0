/* RFC 5424 syslog messages for flows (JSON or CEF payload) and RFC 6587 octet-counting framing,
 * independent of any socket.
 *
 * Message: "<PRI>1 TIMESTAMP HOSTNAME flowd PID flow - MSG" with facility local0 and severity
 * info (PRI 134), or warning for drops (PRI 132: verdict DROPPED or event FLOW_EVENT_DROP).
 * TIMESTAMP is the event's wall-clock time in RFC 3339 with microseconds, UTC
 * ("2024-01-02T03:04:05.123456Z"). MSG is either the flow's canonical JSON line without its
 * newline, or a CEF record told from the source's point of view (source and destination swapped
 * for a reply event):
 *   CEF:0|Flowscope|flowd|0.1|flow|Network flow|3|src=A dst=B spt=P dpt=Q proto=TCP
 *   act=FORWARDED|DROPPED in=<bytes received> out=<bytes sent> start=<ms> end=<ms>
 * spt/dpt only for TCP, UDP and SCTP; end is end_ns for an ended flow, else last_seen_ns. */
#ifndef FLOWSCOPE_ENCODE_SYSLOG_MSG_H
#define FLOWSCOPE_ENCODE_SYSLOG_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "flowscope/base/buf.h"
#include "flowscope/flow.h"

#define SYSLOG_MSG_HOSTNAME_MAX 256 /* RFC 5424: at most 255 characters, plus the NUL */

/* Writes the RFC 5424 HOSTNAME for name: 1..255 printable US-ASCII characters, every other byte
 * (space, control, non-ASCII) replaced by '_'. name NULL or "": gethostname(); "-" when that
 * leaves nothing. */
void syslog_msg_hostname(char out[SYSLOG_MSG_HOSTNAME_MAX], const char *name);

/* Appends one whole RFC 5424 message for f to out (no framing, no trailing newline).
 * cef false: MSG is json[0..json_len) without its trailing '\n'/'\r' (the caller passes the
 * flow's canonical JSON line, flow_pb_json_line()). cef true: MSG is the CEF record built from f;
 * json is ignored and may be NULL. hostname is the HOSTNAME field as syslog_msg_hostname() made it
 * (NULL or "": "-"). The time is f->time_ns, or the current wall clock if 0.
 * Returns 0, -ENOMEM, or -EINVAL (JSON requested with json NULL and json_len > 0); on failure out
 * keeps its previous content. */
int syslog_msg_format(struct buf *out, const struct flow *f, const char *json, size_t json_len,
		      bool cef, const char *hostname, int pid);

/* Appends msg[0..len) framed by RFC 6587 octet counting: "LEN SP MSG". msg must not point into
 * out. Returns 0 or -ENOMEM; on failure out keeps its previous content. */
int syslog_msg_frame(struct buf *out, const char *msg, size_t len);

/* Appends val as a CEF extension value: '\', '=' and '|' escaped with '\', CR and LF as "\r" and
 * "\n". For extensions built outside syslog_msg_format(). Returns 0 or -ENOMEM; on failure out
 * keeps its previous content. */
int syslog_msg_cef_value(struct buf *out, const char *val);

#endif /* FLOWSCOPE_ENCODE_SYSLOG_MSG_H */
