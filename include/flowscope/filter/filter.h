/* The filter language: Hubble's FlowFilter as the keys users type, in one table behind every
 * front end: flowctl's flags (--to-port 443), the HTTP API's parameters (to_port=443),
 * flowd's --export-allow/--export-deny ("to_port=443&protocol=tcp"), and the relay's and
 * history's queries. Each key has a name, a side, a value check and a help line, so every front
 * end accepts the same values with the same case rules and says the same thing about bad ones.
 *
 * Sides follow Hubble: an "either" key (ip, port, pod, namespace, service, label, fqdn,
 * identity, workload, cluster, process, container) puts its value on the source of one filter
 * and on the destination of a twin filter, the two being alternatives; from_X and to_X fill one
 * side of both; the others fill both filters alike.
 * Values of one key are alternatives, different keys must all match. A key prefixed "not_" (or
 * flowctl's --not before a flag) goes to the deny filters instead. */
#ifndef FLOWSCOPE_FILTER_FILTER_H
#define FLOWSCOPE_FILTER_FILTER_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/base/errmsg.h"
#include "flow.pb-c.h"

/* Values in one request, all keys together (a bound on what a request can make us compile). */
#define FILTER_MAX_VALUES 1024

enum filter_side {
	FILTER_BOTH,   /* the same field on every filter: protocol, verdict, ... */
	FILTER_SOURCE, /* from_X */
	FILTER_DEST,   /* to_X */
	FILTER_EITHER, /* X: source of one filter, destination of its twin */
};

struct filter_key {
	const char *name;  /* "to_port": the query key; flowctl's flag is --to-port */
	const char *alias; /* an older name still accepted, or NULL */
	enum filter_side side;
	const char *arg;  /* the value's form in help ("PORT[-PORT]") */
	const char *help; /* one line */
	/* What the key fills: FlowFilter fields by proto name, source and destination variant
	 * ("source_port", "destination_port"; the same for both-side keys). */
	const char *src_field, *dst_field;
	/* Checks a value and turns it into what the field holds (NULL on error, with a hint in
	 * why: "use a port (0-65535) or a range such as 8000-8080"). */
	int (*check)(const char *value, char *canon, size_t len, const char **why);
};

extern const struct filter_key filter_keys[];
extern const size_t filter_n_keys;

/* The key named name (or its alias); '-' and '_' are the same ("to-port" finds to_port). NULL
 * when there is none. */
const struct filter_key *filter_key_find(const char *name);

/* How error messages spell keys: as flags ("--to-port") or as parameters ("to_port"). */
enum filter_spelling { FILTER_AS_PARAM, FILTER_AS_FLAG };

/* A request's filters as they are built: allow and deny, each a filter and its twin. The
 * FlowFilter messages and everything they point to belong to the request. */
struct filter_req {
	Flow__FlowFilter f[2][2]; /* [0 allow, 1 deny][0 filter, 1 twin] */
	bool used[2], twin[2];
	unsigned int n_values;
	double regex_cost; /* of its regular expressions so far (filter_regex_cost) */
	enum filter_spelling spelling;
	/* Further exclusions, each its own deny filter (filter_req_add_deny_group). */
	struct filter_req *groups;
	size_t n_groups;
};

/* Exclusions in one request at most (deny groups). */
#define FILTER_MAX_GROUPS 32

void filter_req_init(struct filter_req *r, enum filter_spelling spelling);
void filter_req_free(struct filter_req *r);

/* Adds one value of k, to the deny filters when deny. Returns 0, or -EINVAL with e saying what
 * is wrong and what to use ("invalid --to-port '99999': use a port (0-65535) ..."). */
int filter_req_add(struct filter_req *r, const struct filter_key *k, const char *value, bool deny,
		   struct errmsg *e);

/* The same by name: a key, or "not_" and a key for the deny side. -ENOENT (with a message
 * listing the keys) when name is none of them. */
int filter_req_add_named(struct filter_req *r, const char *name, const char *value,
			 struct errmsg *e);

/* "key=value&key=value" (flowd's --export-allow), each through filter_req_add_named; deny
 * sends them all to the deny side (--export-deny; a not_ key there is refused). */
int filter_req_parse(struct filter_req *r, const char *query, bool deny, struct errmsg *e);

/* "key=value&key=value" as one more exclusion of its own: a flow matching all of it is left out,
 * whatever the other exclusions say (the request's not_ keys together are one exclusion whose
 * fields must all match, as Hubble's --not is). The HTTP API's deny= and the dashboard's noise
 * toggles. Returns 0 or -EINVAL/-ENOMEM with e set. */
int filter_req_add_deny_group(struct filter_req *r, const char *query, struct errmsg *e);

/* Every deny filter of the request, its own and its groups', into out, which has room for
 * filter_req_max_deny(r). Returns how many. */
size_t filter_req_max_deny(const struct filter_req *r);
size_t filter_req_deny_filters(struct filter_req *r, Flow__FlowFilter **out);

/* The filters built, as GetFlowsRequest wants them: allow (whitelist) or deny (blacklist), 0, 1
 * or 2 of them. The pointers stay the request's. */
size_t filter_req_filters(struct filter_req *r, bool deny, Flow__FlowFilter *out[2]);

/* What to use instead of a bad value: the same words from a flag, a parameter and a gRPC
 * client's FlowFilter. */
#define FILTER_HINT_IP "use an IP address or CIDR such as 10.0.0.0/8"
#define FILTER_HINT_PORT "use a port (0-65535) or a range such as 8000-8080"
#define FILTER_HINT_PROTOCOL "use tcp, udp, icmp, icmpv4, icmpv6 or sctp"
#define FILTER_HINT_SELECTOR "use a value that is not empty and at most 255 characters long"

/* Value checks shared with the filter compiler (flow_filter.c), so that a value means the same
 * from a flag and from a gRPC client. Each returns 0 or -EINVAL. */
struct port_range {
	uint16_t lo, hi;
};
int filter_parse_port(const char *s, struct port_range *out);

enum filter_proto_bit {
	FILTER_P_TCP = 1 << 0,
	FILTER_P_UDP = 1 << 1,
	FILTER_P_ICMP4 = 1 << 2,
	FILTER_P_ICMP6 = 1 << 3,
	FILTER_P_SCTP = 1 << 4,
};
/* tcp, udp, icmp (both), icmpv4, icmpv6, sctp, in any case: ORs the bits into *mask. */
int filter_parse_protocol(const char *s, unsigned int *mask);

/* Selector strings (pods, services, labels, fqdn patterns): not empty, at most 255 bytes. */
#define FILTER_MAX_SELECTOR 255

#define FILTER_HINT_IDENTITY                                                                       \
	"use a number or a reserved identity: host, world, unmanaged, health, init, remote-node, " \
	"kube-apiserver, ingress, world-ipv4, world-ipv6 or unknown"
#define FILTER_HINT_UUID "use an event's uuid in the 8-4-4-4-12 form, as flows show it"
#define FILTER_HINT_REGEX "use a POSIX extended regular expression of at most 1024 characters"
#define FILTER_HINT_HTTP_STATUS "use a status code (404) or a prefix (5+, 40+)"
#define FILTER_HINT_DROP_REASON                                                                    \
	"use a drop reason name such as POLICY_DENIED or CT_NO_MAP_FOUND (any case)"
#define FILTER_HINT_TYPE                                                                           \
	"use trace, drop, l7, capture, policy-verdict, trace-sock, debug, recorder, agent or a "   \
	"number, optionally with :SUBTYPE (trace:to-endpoint, trace:from-network, drop:133)"
#define FILTER_HINT_INTERFACE "use an interface name (at most 15 characters) or index"

/* A numeric security identity: a number (0 to 4294967295) or one of Cilium's reserved names
 * (host, world, ...), as hubble observe --identity takes them. */
int filter_parse_identity(const char *s, uint32_t *out);

/* Hubble's --type: TYPE[:SUBTYPE]. TYPE is a name (trace, drop, l7, capture, policy-verdict,
 * trace-sock, debug, recorder, agent; any case) or a number; SUBTYPE a trace observation point
 * (to-endpoint, from-network, ...), an agent event sub type (agent-started, ...) or a number.
 * Without SUBTYPE *match_sub is false. */
int filter_parse_type(const char *s, int32_t *type, bool *match_sub, int32_t *sub);

/* An HTTP status code (100-599) or a prefix with '+' ("5+", "40+"), as Hubble takes them. */
int filter_parse_http_status(const char *s);

/* A regular expression (POSIX extended, at most 1024 characters), compiled into *re when re is
 * not NULL (free with regfree), only checked otherwise; on error why gets regerror()'s text. */
int filter_parse_regex(const char *s, regex_t *re, char *why, size_t why_len);
/* What compiling s would cost, in copies of its parts, or -1 when filter_parse_regex refuses
 * it for its length or complexity: the regular expressions of one request
 * (filter_req_add, flow_filter_set_new) may cost FILTER_MAX_REGEX_COST together, so that many
 * expressions each under the limit cannot add up to gigabytes and seconds of compiling. */
#define FILTER_MAX_REGEX_COST 8192.0
double filter_regex_cost(const char *s);

#endif /* FLOWSCOPE_FILTER_FILTER_H */
