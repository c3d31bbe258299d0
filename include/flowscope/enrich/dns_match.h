/* DNS answers matched to their queries. An answer is believed, and names addresses, only when
 * it answers a query seen leaving the asking socket: the same flow (its 5-tuple reversed), sent
 * by the other end, with the same transaction id and question, within a timeout. Anyone can
 * put a "response" on the wire; only the server asked, on the port asked, can answer a query
 * (an off-path forger must guess the querier's port and id, as against the resolver itself).
 *
 * The rings are per CPU, so a response can be read before its query: such a response is held
 * for a second, and the query read then returns it. A matched answer stays known until the
 * timeout, so the same answer seen again (at a second observation point) is believed too; a
 * different one is not. */
#ifndef FLOWSCOPE_ENRICH_DNS_MATCH_H
#define FLOWSCOPE_ENRICH_DNS_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowscope/record.h"
#include "flowscope/enrich/dns.h"

struct dns_match;

#define DNS_MATCH_DEFAULT_TIMEOUT_NS 10000000000ULL /* 10 s */
#define DNS_MATCH_DEFAULT_MAX_PENDING 65536
#define DNS_MATCH_HOLD_NS 1000000000ULL /* a response read before its query waits this long */
#define DNS_MATCH_MAX_HELD 1024		/* responses waiting for their query */

struct dns_match_stats {
	uint64_t pending;    /* queries and answers tracked now */
	uint64_t matched;    /* responses that answer a query seen */
	uint64_t unmatched;  /* responses that answer no query seen: not believed */
	uint64_t unanswered; /* queries with no response within the timeout */
	uint64_t evicted;    /* queries forgotten before their timeout: the table was full */
};

/* The addresses of a response that was held until its query was read. */
struct dns_match_answers {
	size_t n;
	struct {
		uint8_t family;
		uint8_t addr[16];
		uint32_t ttl;
	} a[DNS_MAX_ANSWERS];
	uint64_t ts_ns; /* when the response was seen */
};

/* At most max_pending queries tracked (> 0), answers believed within timeout_ns (> 0) of their
 * query. NULL with errno set on failure. */
struct dns_match *dns_match_new(size_t max_pending, uint64_t timeout_ns);
void dns_match_free(struct dns_match *m);

/* A query (q->response false) sent at ts_ns by endpoint `sender` of the flow with canonical key
 * k. Returns true, with *held filled in, when it explains a response read before it (names
 * them now); else false (it is now pending). */
bool dns_match_query(struct dns_match *m, const struct flow_key *k, uint8_t sender,
		     const struct dns_msg *q, uint64_t ts_ns, struct dns_match_answers *held);

/* A response (r->response true) sent at ts_ns by endpoint `sender` of k. True when it is to be
 * believed: it answers a pending query (or is that answer again). False otherwise: it is held
 * for its query a while if it names addresses, else counted unmatched at once. */
bool dns_match_response(struct dns_match *m, const struct flow_key *k, uint8_t sender,
			const struct dns_msg *r, uint64_t ts_ns);

/* Forgets queries past the timeout and held responses past DNS_MATCH_HOLD_NS, before now_ns. */
void dns_match_expire(struct dns_match *m, uint64_t now_ns);

void dns_match_get_stats(const struct dns_match *m, struct dns_match_stats *st);

#endif /* FLOWSCOPE_ENRICH_DNS_MATCH_H */
