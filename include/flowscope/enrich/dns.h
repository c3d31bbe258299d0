/* DNS message parsing (RFC 1035, AAAA from RFC 3596) for the collector: header, first question and
 * the answer section, from untrusted packet payloads. No allocation; every error is -EINVAL. */
#ifndef FLOWSCOPE_ENRICH_DNS_H
#define FLOWSCOPE_ENRICH_DNS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MAX_ANSWERS 32
#define DNS_HDR_LEN 12
#define DNS_MAX_QUESTIONS 16  /* a larger qdcount is -EINVAL */
#define DNS_MAX_ANCOUNT 512   /* a larger ancount is -EINVAL */
#define DNS_MAX_NAME_WIRE 255 /* encoded name, length octets and root included */
#define DNS_MAX_POINTER_JUMPS 64
#define DNS_NAME_TEXT_LEN 256 /* size of every name buffer below, NUL included */

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28

#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3

/* Names are written dotted, without a trailing dot ("." for the root), with A-Z lower-cased and
 * every byte other than [a-z0-9-_] written as \DDD (decimal), so they are always printable. A name
 * whose text form would not fit in DNS_NAME_TEXT_LEN (possible only with many escaped bytes) makes
 * the message -EINVAL rather than being cut. */
struct dns_answer {
	char name[256]; /* owner name, dotted, no trailing dot, lower-case */
	uint16_t type;	/* 1 A, 28 AAAA, 5 CNAME, others kept with no data */
	uint32_t ttl;
	uint8_t family;	  /* 4 for A, 6 for AAAA, else 0 */
	uint8_t addr[16]; /* A: first 4 bytes */
	char cname[256];  /* CNAME target, dotted, lower-case */
};
struct dns_msg {
	uint16_t id;
	bool response; /* QR bit */
	uint8_t opcode;
	uint8_t rcode;
	bool truncated;	 /* TC bit */
	char qname[256]; /* first question, dotted, lower-case, "" if none; the root is "." */
	uint16_t qtype;
	uint16_t n_questions;
	size_t n_answers;     /* answers stored (at most DNS_MAX_ANSWERS) */
	bool answers_dropped; /* more answers than DNS_MAX_ANSWERS */
	struct dns_answer answers[DNS_MAX_ANSWERS];
};
/* Parses one DNS message (UDP payload; for TCP the caller strips the 2-byte length).
 * Returns 0, or -EINVAL for anything malformed; never reads outside p[0..len). */
int dns_parse(const uint8_t *p, size_t len, struct dns_msg *out);
/* For DNS over TCP: the payload of one segment starting with the 2-byte length prefix.
 * Returns dns_parse of the message if it is complete in this segment, else -EINVAL. */
int dns_parse_tcp(const uint8_t *p, size_t len, struct dns_msg *out);
/* Readable names of an rcode ("NOERROR", "NXDOMAIN", ...) and a qtype ("A", "AAAA", ...);
 * unknown values give "RCODE<n>" / "TYPE<n>" written into a static per-thread buffer. */
const char *dns_rcode_name(uint8_t rcode);
const char *dns_type_name(uint16_t type);
#endif
