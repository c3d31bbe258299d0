/* Queries waiting for their answer, and answers read before their query (see
 * include/flowscope/enrich/dns_match.h). One hash table of entries keyed by flow, id and
 * question; two age lists: queries and matched answers (timeout), held responses (a second). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/enrich/dns_match.h"
#include "flowscope/base/hash.h"
#include "flowscope/base/list.h"

enum { PEND_QUERY, PEND_ANSWERED, PEND_HELD };

struct pend {
	struct pend *next; /* in its hash bucket */
	struct list_node age;
	struct flow_key key;
	uint64_t hash;
	uint64_t ts_ns;	      /* the query's (PEND_QUERY), the answer's (the others) */
	uint64_t answer_hash; /* PEND_ANSWERED, PEND_HELD */
	struct dns_match_answers *held;
	uint16_t id, qtype;
	uint8_t querier; /* key endpoint that asked */
	uint8_t state;
	char qname[];
};

struct dns_match {
	struct pend **buckets;
	size_t mask, n, n_held, max_pending;
	uint64_t timeout_ns;
	struct list_node queries, held; /* oldest first */
	struct dns_match_stats st;
};

struct dns_match *dns_match_new(size_t max_pending, uint64_t timeout_ns)
{
	struct dns_match *m;
	size_t b = 64;

	if (!max_pending || !timeout_ns) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	while (b < max_pending && b < ((size_t)1 << 22))
		b <<= 1;
	m->buckets = calloc(b, sizeof(*m->buckets));
	if (!m->buckets) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->mask = b - 1;
	m->max_pending = max_pending;
	m->timeout_ns = timeout_ns;
	list_init(&m->queries);
	list_init(&m->held);
	return m;
}

static void pend_remove(struct dns_match *m, struct pend *p)
{
	struct pend **pp;

	for (pp = &m->buckets[p->hash & m->mask]; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	list_del(&p->age);
	if (p->state == PEND_HELD)
		m->n_held--;
	m->n--;
	free(p->held);
	free(p);
}

void dns_match_free(struct dns_match *m)
{
	struct pend *p, *t;

	if (!m)
		return;
	list_for_each_safe(p, t, &m->queries, struct pend, age) pend_remove(m, p);
	list_for_each_safe(p, t, &m->held, struct pend, age) pend_remove(m, p);
	free(m->buckets);
	free(m);
}

static uint64_t question_hash(const struct flow_key *k, const struct dns_msg *msg)
{
	uint64_t h = hash_bytes(k, sizeof(*k));

	h = hash_mix64(h ^ ((uint64_t)msg->id << 16 | msg->qtype));
	return h ^ hash_str(msg->qname);
}

/* What an answer says, folded: the same answer seen twice folds the same. */
static uint64_t answer_hash(const struct dns_msg *r)
{
	uint64_t h = hash_mix64(r->rcode ^ ((uint64_t)r->n_answers << 8));
	size_t i;

	for (i = 0; i < r->n_answers; i++) {
		const struct dns_answer *a = &r->answers[i];

		h = hash_mix64(h ^ hash_bytes(a->addr, sizeof(a->addr)) ^
			       ((uint64_t)a->type << 32 | a->ttl) ^ hash_str(a->cname));
	}
	return h;
}

static struct pend *find(const struct dns_match *m, const struct flow_key *k,
			 const struct dns_msg *msg, uint64_t h)
{
	struct pend *p;

	for (p = m->buckets[h & m->mask]; p; p = p->next)
		if (p->hash == h && p->id == msg->id && p->qtype == msg->qtype &&
		    !memcmp(&p->key, k, sizeof(*k)) && !strcmp(p->qname, msg->qname))
			return p;
	return NULL;
}

static struct pend *pend_add(struct dns_match *m, const struct flow_key *k,
			     const struct dns_msg *msg, uint64_t h, uint8_t state)
{
	size_t len = strlen(msg->qname);
	struct pend *p = malloc(sizeof(*p) + len + 1);

	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	memcpy(p->qname, msg->qname, len + 1);
	p->key = *k;
	p->hash = h;
	p->id = msg->id;
	p->qtype = msg->qtype;
	p->state = state;
	p->next = m->buckets[h & m->mask];
	m->buckets[h & m->mask] = p;
	list_add_tail(state == PEND_HELD ? &m->held : &m->queries, &p->age);
	m->n++;
	m->n_held += state == PEND_HELD;
	return p;
}

/* Puts p at the young end of its age list: it was just seen. */
static void refresh(struct dns_match *m, struct pend *p, uint64_t ts_ns)
{
	p->ts_ns = ts_ns;
	list_del(&p->age);
	list_add_tail(p->state == PEND_HELD ? &m->held : &m->queries, &p->age);
}

static bool in_time(const struct dns_match *m, uint64_t query_ns, uint64_t answer_ns)
{
	return query_ns <= answer_ns && answer_ns - query_ns <= m->timeout_ns;
}

/* A held response becomes the answer of its query. */
static void answered(struct dns_match *m, struct pend *p, uint64_t answer_ns, uint64_t ah)
{
	if (p->state == PEND_HELD)
		m->n_held--;
	p->state = PEND_ANSWERED;
	p->answer_hash = ah;
	refresh(m, p, answer_ns);
	m->st.matched++;
}

bool dns_match_query(struct dns_match *m, const struct flow_key *k, uint8_t sender,
		     const struct dns_msg *q, uint64_t ts_ns, struct dns_match_answers *held)
{
	uint64_t h = question_hash(k, q);
	struct pend *p = find(m, k, q, h);

	if (p && p->querier == sender) {
		if (p->state == PEND_HELD && in_time(m, ts_ns, p->ts_ns)) {
			*held = *p->held;
			free(p->held);
			p->held = NULL;
			answered(m, p, p->ts_ns, p->answer_hash);
			return true;
		}
		if (p->state == PEND_QUERY) {
			refresh(m, p, ts_ns); /* sent again */
			return false;
		}
		if (p->state == PEND_ANSWERED && ts_ns <= p->ts_ns)
			return false; /* the answered query, seen at another point */
	}
	if (p) { /* another question now, or one no answer can be for */
		m->st.unmatched += p->state == PEND_HELD;
		pend_remove(m, p);
	}
	if (m->n >= m->max_pending && !list_empty(&m->queries)) {
		struct pend *old = container_of(m->queries.next, struct pend, age);

		m->st.evicted += old->state == PEND_QUERY;
		pend_remove(m, old);
	}
	p = pend_add(m, k, q, h, PEND_QUERY);
	if (p) {
		p->querier = sender;
		p->ts_ns = ts_ns;
	}
	return false;
}

static bool names_addresses(const struct dns_msg *r)
{
	size_t i;

	for (i = 0; r->rcode == DNS_RCODE_NOERROR && i < r->n_answers; i++)
		if (r->answers[i].family)
			return true;
	return false;
}

static void hold(struct dns_match *m, const struct flow_key *k, uint8_t sender,
		 const struct dns_msg *r, uint64_t ts_ns, uint64_t h, uint64_t ah)
{
	struct dns_match_answers *a;
	struct pend *p;
	size_t i;

	if (!names_addresses(r) || m->n_held >= DNS_MATCH_MAX_HELD || m->n >= m->max_pending) {
		m->st.unmatched++;
		return;
	}
	a = calloc(1, sizeof(*a));
	p = a ? pend_add(m, k, r, h, PEND_HELD) : NULL;
	if (!p) {
		free(a);
		m->st.unmatched++;
		return;
	}
	for (i = 0; i < r->n_answers; i++) {
		if (!r->answers[i].family)
			continue;
		a->a[a->n].family = r->answers[i].family;
		memcpy(a->a[a->n].addr, r->answers[i].addr, 16);
		a->a[a->n].ttl = r->answers[i].ttl;
		a->n++;
	}
	a->ts_ns = ts_ns;
	p->held = a;
	p->querier = sender ^ 1;
	p->ts_ns = ts_ns;
	p->answer_hash = ah;
}

bool dns_match_response(struct dns_match *m, const struct flow_key *k, uint8_t sender,
			const struct dns_msg *r, uint64_t ts_ns)
{
	uint64_t h = question_hash(k, r), ah = answer_hash(r);
	struct pend *p = find(m, k, r, h);

	if (!p) {
		hold(m, k, sender, r, ts_ns, h, ah);
		return false;
	}
	if (p->querier != (sender ^ 1)) {
		m->st.unmatched++; /* a "response" from the asker itself */
		return false;
	}
	switch (p->state) {
	case PEND_QUERY:
		if (!in_time(m, p->ts_ns, ts_ns))
			break;
		answered(m, p, ts_ns, ah);
		return true;
	case PEND_ANSWERED:
		if (p->answer_hash == ah)
			return true; /* the answer again, from another observation point */
		break;
	case PEND_HELD:
		if (p->answer_hash == ah)
			return false; /* the held one, seen again: still waiting */
		break;
	}
	m->st.unmatched++;
	return false;
}

void dns_match_expire(struct dns_match *m, uint64_t now_ns)
{
	struct pend *p, *t;

	list_for_each_safe(p, t, &m->queries, struct pend, age)
	{
		if (p->ts_ns + m->timeout_ns >= now_ns)
			break;
		m->st.unanswered += p->state == PEND_QUERY;
		pend_remove(m, p);
	}
	list_for_each_safe(p, t, &m->held, struct pend, age)
	{
		if (p->ts_ns + DNS_MATCH_HOLD_NS >= now_ns)
			break;
		m->st.unmatched++;
		pend_remove(m, p);
	}
}

void dns_match_get_stats(const struct dns_match *m, struct dns_match_stats *st)
{
	*st = m->st;
	st->pending = m->n;
}
