/* Proto3 JSON into protobuf-c messages, driven by their descriptors (see
 * include/flowscope/encode/pb_json_parse.h): a recursive-descent JSON reader that puts each
 * value where the field's descriptor says, so that protobuf_c_message_free_unpacked() frees
 * the result, a half-built one too. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/parse.h"
#include "flowscope/base/pb_pack.h"
#include "flowscope/encode/pb_json.h"
#include "flowscope/encode/pb_json_parse.h"

#define MAX_DEPTH 64

struct parser {
	const char *start, *p, *end;
	struct pb_json_parse_opts *opts;
	struct errmsg *e;
	int depth;
};

static int parse_message_body(struct parser *ps, const ProtobufCMessageDescriptor *d,
			      ProtobufCMessage *m);

/* Fails at offset at of the text: "offset 12: what". */
static int vfail_at(struct parser *ps, const char *at, int code, const char *fmt, va_list ap)
{
	char what[400];

	vsnprintf(what, sizeof(what), fmt, ap);
	return errmsg_set(ps->e, code, "offset %zu: %s", (size_t)(at - ps->start), what);
}

static int fail_at(struct parser *ps, const char *at, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_at(struct parser *ps, const char *at, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail_at(ps, at, code, fmt, ap);
	va_end(ap);
	return r;
}

/* Fails where the parser is. */
static int fail(struct parser *ps, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct parser *ps, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail_at(ps, ps->p, code, fmt, ap);
	va_end(ap);
	return r;
}

static void ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/* Consumes c (after white space) or fails saying what was expected. */
static int expect(struct parser *ps, char c, const char *what)
{
	ws(ps);
	if (ps->p >= ps->end || *ps->p != c)
		return fail(ps, -EINVAL, "expected %s", what);
	ps->p++;
	return 0;
}

static bool peek(struct parser *ps, char c)
{
	ws(ps);
	return ps->p < ps->end && *ps->p == c;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	ws(ps);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return false;
	ps->p += n;
	return true;
}

static int hex4(const char *s, unsigned int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		int c = (unsigned char)s[i];

		if (!isxdigit(c))
			return -EINVAL;
		*v = *v * 16 + (unsigned int)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
	}
	return 0;
}

static void put_utf8(char *out, size_t *o, unsigned int cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* One \u escape at s (after the backslash and 'u'), with its low surrogate if it is a high one:
 * the code point and how many bytes of input it took. */
static int unicode_escape(const char *s, const char *end, unsigned int *cp, size_t *used)
{
	unsigned int lo;

	if (end - s < 4 || hex4(s, cp))
		return -EINVAL;
	*used = 4;
	if (*cp >= 0xdc00 && *cp <= 0xdfff)
		return -EINVAL;
	if (*cp >= 0xd800 && *cp <= 0xdbff) {
		if (end - s < 10 || s[4] != '\\' || s[5] != 'u' || hex4(s + 6, &lo) ||
		    lo < 0xdc00 || lo > 0xdfff)
			return -EINVAL;
		*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
		*used = 10;
	}
	return *cp ? 0 : -EINVAL; /* a NUL cannot be in a C string */
}

/* A JSON string, unescaped, into a new NUL-terminated buffer. */
static int parse_string(struct parser *ps, char **out)
{
	const char *s;
	size_t o = 0, used;
	unsigned int cp;
	const char *at;
	char *buf;
	int r;

	ws(ps);
	at = ps->p;
	r = expect(ps, '"', "a string");
	if (r)
		return r;
	for (s = ps->p; s < ps->end && *s != '"'; s++)
		if (*s == '\\')
			s++;
	if (s >= ps->end)
		return fail_at(ps, at, -EINVAL, "unterminated string");
	buf = malloc((size_t)(s - ps->p) + 1);
	if (!buf)
		return fail(ps, -ENOMEM, "out of memory");
	for (; *ps->p != '"'; ps->p++) {
		char c = *ps->p;

		if ((unsigned char)c < 0x20) {
			free(buf);
			return fail(ps, -EINVAL, "control character in a string");
		}
		if (c != '\\') {
			buf[o++] = c;
			continue;
		}
		c = *++ps->p;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			buf[o++] = c;
			break;
		case 'b':
			buf[o++] = '\b';
			break;
		case 'f':
			buf[o++] = '\f';
			break;
		case 'n':
			buf[o++] = '\n';
			break;
		case 'r':
			buf[o++] = '\r';
			break;
		case 't':
			buf[o++] = '\t';
			break;
		case 'u':
			if (unicode_escape(ps->p + 1, ps->end, &cp, &used)) {
				free(buf);
				return fail(ps, -EINVAL, "bad \\u escape in a string");
			}
			put_utf8(buf, &o, cp);
			ps->p += used;
			break;
		default:
			free(buf);
			return fail(ps, -EINVAL, "bad escape '\\%c' in a string", c);
		}
	}
	ps->p++;
	buf[o] = '\0';
	*out = buf;
	return 0;
}

/* The text of a JSON number into tok. */
static int number_token(struct parser *ps, char *tok, size_t len)
{
	const char *s;
	size_t n;

	ws(ps);
	s = ps->p;
	if (s < ps->end && *s == '-')
		s++;
	if (s >= ps->end || !isdigit((unsigned char)*s))
		return fail(ps, -EINVAL, "expected a number");
	if (*s == '0' && s + 1 < ps->end && isdigit((unsigned char)s[1]))
		return fail(ps, -EINVAL, "a number with a leading zero");
	while (s < ps->end && isdigit((unsigned char)*s))
		s++;
	if (s < ps->end && *s == '.') {
		if (++s >= ps->end || !isdigit((unsigned char)*s))
			return fail(ps, -EINVAL, "a number ending in '.'");
		while (s < ps->end && isdigit((unsigned char)*s))
			s++;
	}
	if (s < ps->end && (*s == 'e' || *s == 'E')) {
		s++;
		if (s < ps->end && (*s == '+' || *s == '-'))
			s++;
		if (s >= ps->end || !isdigit((unsigned char)*s))
			return fail(ps, -EINVAL, "a number with a bad exponent");
		while (s < ps->end && isdigit((unsigned char)*s))
			s++;
	}
	n = (size_t)(s - ps->p);
	if (n >= len)
		return fail(ps, -EINVAL, "a number too long");
	memcpy(tok, ps->p, n);
	tok[n] = '\0';
	ps->p = s;
	return 0;
}

/* A number, or a string holding one (proto3 JSON allows both for numeric fields): its text. */
static int numeric_text(struct parser *ps, char *tok, size_t len, bool *quoted)
{
	char *s;
	int r;

	*quoted = peek(ps, '"');
	if (!*quoted)
		return number_token(ps, tok, len);
	r = parse_string(ps, &s);
	if (r)
		return r;
	if (strlen(s) >= len) {
		free(s);
		return fail(ps, -EINVAL, "a number too long");
	}
	strcpy(tok, s);
	free(s);
	return 0;
}

static void store_int(void *out, size_t size, bool is_signed, int64_t i, uint64_t u)
{
	if (size == 4 && is_signed)
		*(int32_t *)out = (int32_t)i;
	else if (size == 4)
		*(uint32_t *)out = (uint32_t)u;
	else if (is_signed)
		*(int64_t *)out = i;
	else
		*(uint64_t *)out = u;
}

/* An integer field's value within [min, max] (signed) or [0, umax] (unsigned), of size bytes.
 * "1e3" and "5.0" are integers too, as protojson has it. */
static int parse_int(struct parser *ps, bool is_signed, int64_t min, int64_t max, uint64_t umax,
		     void *out, size_t size)
{
	char tok[64], *end;
	bool quoted, ok;
	long long i = 0;
	unsigned long long u = 0;
	const char *at;
	int r;

	ws(ps);
	at = ps->p;
	r = numeric_text(ps, tok, sizeof(tok), &quoted);
	if (r)
		return r;
	errno = 0;
	if (strpbrk(tok, ".eE")) {
		double v = strtod(tok, &end);

		ok = !*end && v == floor(v) &&
		     (is_signed ? v >= (double)min && v <= (double)max
				: v >= 0 && v <= (double)umax);
		i = ok && is_signed ? (long long)v : 0;
		u = ok && !is_signed ? (unsigned long long)v : 0;
	} else if (is_signed) {
		i = strtoll(tok, &end, 10);
		ok = !*end && *tok && !errno && i >= min && i <= max;
	} else {
		u = strtoull(tok, &end, 10);
		ok = !*end && *tok && tok[0] != '-' && !errno && u <= umax;
	}
	if (!ok)
		return fail_at(ps, at, -EINVAL, "'%s' is not %s integer in range", tok,
			       is_signed ? "an" : "an unsigned");
	store_int(out, size, is_signed, i, u);
	return 0;
}

static int parse_float(struct parser *ps, double *v)
{
	char tok[64], *end;
	bool quoted;
	const char *at;
	int r;

	ws(ps);
	at = ps->p;
	r = numeric_text(ps, tok, sizeof(tok), &quoted);
	if (r)
		return r;
	if (quoted && !strcmp(tok, "NaN")) {
		*v = NAN;
		return 0;
	}
	if (quoted && (!strcmp(tok, "Infinity") || !strcmp(tok, "-Infinity"))) {
		*v = tok[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	*v = strtod(tok, &end);
	if (*end || !*tok || !isfinite(*v))
		return fail_at(ps, at, -EINVAL, "'%s' is not a number", tok);
	return 0;
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Standard or URL-safe base64, padding optional, as protojson reads bytes. */
static int parse_bytes(struct parser *ps, ProtobufCBinaryData *out)
{
	char *s;
	size_t n, i, o = 0;
	uint32_t acc = 0;
	int bits = 0, r = parse_string(ps, &s);

	if (r)
		return r;
	n = strlen(s);
	while (n && s[n - 1] == '=')
		n--;
	out->data = malloc(n * 3 / 4 + 1);
	if (!out->data) {
		free(s);
		return fail(ps, -ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0) {
			free(s);
			free(out->data);
			out->data = NULL;
			return fail(ps, -EINVAL, "bad base64 in a bytes field");
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[o++] = (uint8_t)(acc >> bits);
		}
	}
	out->len = o;
	free(s);
	return 0;
}

/* Skips any JSON value (an unknown field's). */
static int skip_value(struct parser *ps)
{
	char tok[400], *s;
	int r = 0;

	ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, -EINVAL, "expected a value");
	if (*ps->p == '"') {
		r = parse_string(ps, &s);
		if (!r)
			free(s);
		return r;
	}
	if (literal(ps, "true") || literal(ps, "false") || literal(ps, "null"))
		return 0;
	if (*ps->p != '{' && *ps->p != '[')
		return number_token(ps, tok, sizeof(tok));
	if (++ps->depth > MAX_DEPTH)
		return fail(ps, -EINVAL, "nested too deeply");
	if (*ps->p++ == '[') {
		while (!r && !peek(ps, ']')) {
			r = skip_value(ps);
			if (!r && !peek(ps, ']'))
				r = expect(ps, ',', "',' or ']'");
		}
		r = r ?: expect(ps, ']', "']'");
	} else {
		while (!r && !peek(ps, '}')) {
			r = parse_string(ps, &s);
			if (!r)
				free(s);
			r = r ?: expect(ps, ':', "':'");
			r = r ?: skip_value(ps);
			if (!r && !peek(ps, '}'))
				r = expect(ps, ',', "',' or '}'");
		}
		r = r ?: expect(ps, '}', "'}'");
	}
	ps->depth--;
	return r;
}

static ProtobufCMessage *new_message(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = malloc(d->sizeof_message);

	if (m)
		d->message_init(m);
	return m;
}

/* "1.5s", "-0.000001s": a google.protobuf.Duration. */
static int duration_fields(const char *s, int64_t *secs, int32_t *nanos)
{
	const char *p = s + (*s == '-');
	char *end;
	long long whole;
	long frac = 0, scale = 100000000;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	whole = strtoll(p, &end, 10);
	if (errno || whole > 315576000000LL)
		return -EINVAL;
	if (*end == '.') {
		for (end++; isdigit((unsigned char)*end) && scale; end++, scale /= 10)
			frac += (*end - '0') * scale;
		if (isdigit((unsigned char)*end))
			return -EINVAL;
	}
	if (strcmp(end, "s"))
		return -EINVAL;
	*secs = *s == '-' ? -whole : whole;
	*nanos = (int32_t)(*s == '-' ? -frac : frac);
	return 0;
}

/* Sets field id of m (an int64 for 1, an int32 for 2: Timestamp and Duration). */
static void set_secs_nanos(ProtobufCMessage *m, int64_t secs, int32_t nanos)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f1 = protobuf_c_message_descriptor_get_field(d, 1);
	const ProtobufCFieldDescriptor *f2 = protobuf_c_message_descriptor_get_field(d, 2);

	*(int64_t *)((char *)m + f1->offset) = secs;
	*(int32_t *)((char *)m + f2->offset) = nanos;
}

/* "time.seconds,sourcePort" -> paths "time.seconds", "source_port" (Go's JSONSnakeCase). */
static int field_mask_paths(struct parser *ps, ProtobufCMessage *m, const char *p)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(m->descriptor, 1);
	size_t *n = (size_t *)((char *)m + f->quantifier_offset);
	char ***arr = (char ***)((char *)m + f->offset);

	while (*p) {
		size_t len = strcspn(p, ","), i, o = 0;
		char *path = malloc(len * 2 + 1), **grown;

		grown = path ? realloc(*arr, (*n + 1) * sizeof(char *)) : NULL;
		if (!grown) {
			free(path);
			return fail(ps, -ENOMEM, "out of memory");
		}
		*arr = grown;
		for (i = 0; i < len; i++) {
			if (isupper((unsigned char)p[i])) {
				path[o++] = '_';
				path[o++] = (char)tolower((unsigned char)p[i]);
			} else {
				path[o++] = p[i];
			}
		}
		path[o] = '\0';
		(*arr)[(*n)++] = path;
		p += len + (p[len] == ',');
	}
	return 0;
}

static int parse_value(struct parser *ps, const ProtobufCFieldDescriptor *fd, void *slot);

/* Well-known types that JSON writes as something other than an object. done says whether m
 * was one of them. */
static int parse_well_known(struct parser *ps, ProtobufCMessage *m, bool *done)
{
	const char *name = m->descriptor->name;
	const char *at;
	uint64_t ns;
	int64_t secs;
	int32_t nanos;
	char *s;
	int r;

	*done = false;
	if (strncmp(name, "google.protobuf.", 16))
		return 0;
	name += 16;
	if (!strcmp(name, "Timestamp") || !strcmp(name, "Duration") || !strcmp(name, "FieldMask")) {
		if (!peek(ps, '"'))
			return 0; /* the object form, as pb_json writes a FieldMask */
		*done = true;
		at = ps->p;
		r = parse_string(ps, &s);
		if (r)
			return r;
		if (name[0] == 'T') {
			r = parse_rfc3339(s, &ns);
			if (!r)
				set_secs_nanos(m, (int64_t)(ns / 1000000000ULL),
					       (int32_t)(ns % 1000000000ULL));
			else
				r = fail_at(ps, at, -EINVAL, "'%s' is not an RFC 3339 time", s);
		} else if (name[0] == 'D') {
			r = duration_fields(s, &secs, &nanos);
			if (!r)
				set_secs_nanos(m, secs, nanos);
			else
				r = fail_at(ps, at, -EINVAL,
					    "'%s' is not a duration such as \"1.5s\"", s);
		} else {
			r = field_mask_paths(ps, m, s);
		}
		free(s);
		return r;
	}
	if (strlen(name) > 5 && !strcmp(name + strlen(name) - 5, "Value") &&
	    m->descriptor->n_fields == 1 && strcmp(name, "Value")) {
		const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[0];

		*done = true;
		return parse_value(ps, fd, (char *)m + fd->offset);
	}
	return 0;
}

/* A message value (an object, or a well-known type's JSON form) into *slot; null leaves it
 * unset. */
static int parse_sub_message(struct parser *ps, const ProtobufCMessageDescriptor *d,
			     ProtobufCMessage **slot)
{
	bool done;
	int r;

	if (literal(ps, "null"))
		return 0;
	*slot = new_message(d);
	if (!*slot)
		return fail(ps, -ENOMEM, "out of memory");
	r = parse_well_known(ps, *slot, &done);
	if (r || done)
		return r;
	if (++ps->depth > MAX_DEPTH)
		return fail(ps, -EINVAL, "nested too deeply");
	r = parse_message_body(ps, d, *slot);
	ps->depth--;
	return r;
}

static int parse_enum(struct parser *ps, const ProtobufCEnumDescriptor *ed, int *out)
{
	const ProtobufCEnumValue *ev;
	const char *at;
	char *s;
	int r;

	if (!peek(ps, '"'))
		return parse_int(ps, true, INT32_MIN, INT32_MAX, 0, out, 4);
	at = ps->p;
	r = parse_string(ps, &s);
	if (r)
		return r;
	ev = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
	if (ev) {
		*out = ev->value;
	} else if (ps->opts && ps->opts->ignore_unknown) {
		ps->opts->unknown++;
	} else {
		r = fail_at(ps, at, -ENOENT, "unknown value '%s' of %s", s, ed->name);
	}
	free(s);
	return r;
}

/* One value of fd's type (an element, for repeated fields) into slot. */
static int parse_value(struct parser *ps, const ProtobufCFieldDescriptor *fd, void *slot)
{
	double v;
	int r;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return parse_int(ps, true, INT32_MIN, INT32_MAX, 0, slot, 4);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return parse_int(ps, false, 0, 0, UINT32_MAX, slot, 4);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return parse_int(ps, true, INT64_MIN, INT64_MAX, 0, slot, 8);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return parse_int(ps, false, 0, 0, UINT64_MAX, slot, 8);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		r = parse_float(ps, &v);
		if (!r && fd->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)slot = (float)v;
		else if (!r)
			*(double *)slot = v;
		return r;
	case PROTOBUF_C_TYPE_BOOL:
		if (literal(ps, "true"))
			*(protobuf_c_boolean *)slot = 1;
		else if (literal(ps, "false"))
			*(protobuf_c_boolean *)slot = 0;
		else
			return fail(ps, -EINVAL, "expected true or false");
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		return parse_enum(ps, fd->descriptor, slot);
	case PROTOBUF_C_TYPE_STRING:
		return parse_string(ps, slot);
	case PROTOBUF_C_TYPE_BYTES:
		return parse_bytes(ps, slot);
	case PROTOBUF_C_TYPE_MESSAGE:
		return parse_sub_message(ps, fd->descriptor, slot);
	}
	return fail(ps, -EINVAL, "field type %d not supported", (int)fd->type);
}

/* A map field (repeated key/value entries) from a JSON object: keys are strings in JSON, read
 * as the key field's type. */
static int parse_map(struct parser *ps, const ProtobufCFieldDescriptor *fd, size_t *n, char **arr)
{
	const ProtobufCMessageDescriptor *ed = fd->descriptor;
	const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(ed, 1);
	const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(ed, 2);
	int r = expect(ps, '{', "an object");

	while (!r && !peek(ps, '}')) {
		ProtobufCMessage *entry, **grown = realloc(*arr, (*n + 1) * sizeof(entry));
		char *key = NULL;

		if (!grown)
			return fail(ps, -ENOMEM, "out of memory");
		*arr = (char *)grown;
		entry = new_message(ed);
		if (!entry)
			return fail(ps, -ENOMEM, "out of memory");
		grown[(*n)++] = entry;
		r = parse_string(ps, &key);
		if (!r && kf->type == PROTOBUF_C_TYPE_STRING) {
			*(char **)((char *)entry + kf->offset) = key;
			key = NULL;
		} else if (!r) {
			struct parser sub = {key,      key,   key + strlen(key),
					     ps->opts, ps->e, ps->depth};

			r = parse_value(&sub, kf, (char *)entry + kf->offset);
			if (!r && sub.p != sub.end)
				r = fail(ps, -EINVAL, "bad map key '%s'", key);
		}
		free(key);
		r = r ?: expect(ps, ':', "':'");
		r = r ?: parse_value(ps, vf, (char *)entry + vf->offset);
		if (!r && !peek(ps, '}'))
			r = expect(ps, ',', "',' or '}'");
	}
	return r ?: expect(ps, '}', "'}'");
}

/* protobuf-c marks no map fields; a repeated message of a "...Entry" type with key = 1 and
 * value = 2 is one. */
static bool is_map(const ProtobufCFieldDescriptor *fd)
{
	const ProtobufCMessageDescriptor *ed = fd->descriptor;
	size_t n;

	if (fd->type != PROTOBUF_C_TYPE_MESSAGE || fd->label != PROTOBUF_C_LABEL_REPEATED)
		return false;
	n = strlen(ed->short_name);
	return n > 5 && !strcmp(ed->short_name + n - 5, "Entry") && ed->n_fields == 2 &&
	       protobuf_c_message_descriptor_get_field_by_name(ed, "key") &&
	       protobuf_c_message_descriptor_get_field_by_name(ed, "value");
}

static int parse_repeated(struct parser *ps, const ProtobufCFieldDescriptor *fd,
			  ProtobufCMessage *m)
{
	size_t *n = (size_t *)((char *)m + fd->quantifier_offset), es = pb_value_size(fd->type);
	char **arr = (char **)((char *)m + fd->offset);
	int r;

	if (literal(ps, "null"))
		return 0;
	if (is_map(fd))
		return parse_map(ps, fd, n, arr);
	r = expect(ps, '[', "an array");
	while (!r && !peek(ps, ']')) {
		char *grown = realloc(*arr, es * (*n + 1));

		if (!grown)
			return fail(ps, -ENOMEM, "out of memory");
		*arr = grown;
		memset(grown + es * *n, 0, es);
		/* No element may be null (as protobuf's JSON mapping says): a list of messages
		 * would hold a NULL that packing and every reader takes for a message. */
		if (literal(ps, "null"))
			return fail_at(ps, ps->p - 4, -EINVAL,
				       "null is not a value a list can hold");
		r = parse_value(ps, fd, grown + es * *n);
		if (r) {
			/* A message half built is still freed with the array. */
			if (fd->type == PROTOBUF_C_TYPE_MESSAGE && *(void **)(grown + es * *n))
				(*n)++;
			return r;
		}
		(*n)++;
		if (!peek(ps, ']'))
			r = expect(ps, ',', "',' or ']'");
	}
	return r ?: expect(ps, ']', "']'");
}

/* The field a JSON key names: its proto name or its lowerCamelCase JSON name. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
						  const char *key)
{
	const ProtobufCFieldDescriptor *fd =
		protobuf_c_message_descriptor_get_field_by_name(d, key);
	unsigned int i;

	for (i = 0; !fd && i < d->n_fields; i++) {
		const char *n = d->fields[i].name, *k = key;
		bool up = false;

		for (; *n && *k; n++) {
			if (*n == '_') {
				up = true;
				continue;
			}
			if (*k != (up ? toupper((unsigned char)*n) : *n))
				break;
			up = false;
			k++;
		}
		if (!*n && !*k)
			fd = &d->fields[i];
	}
	return fd;
}

/* Marks fd set in m: its oneof case or its has_ flag. Refuses a second member of a oneof. */
static int mark_set(struct parser *ps, const ProtobufCFieldDescriptor *fd, ProtobufCMessage *m)
{
	uint32_t *q = (uint32_t *)((char *)m + fd->quantifier_offset);

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		if (*q && *q != fd->id)
			return fail(ps, -EINVAL, "'%s' and another field of its oneof are both set",
				    fd->name);
		*q = fd->id;
	} else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset) {
		*(protobuf_c_boolean *)q = 1;
	}
	return 0;
}

static int parse_field(struct parser *ps, const ProtobufCFieldDescriptor *fd, ProtobufCMessage *m)
{
	void *slot = (char *)m + fd->offset;
	int r;

	if (fd->label == PROTOBUF_C_LABEL_REPEATED)
		return parse_repeated(ps, fd, m);
	if (literal(ps, "null"))
		return 0; /* proto3: null is the default, and for messages "not set" */
	r = mark_set(ps, fd, m);
	return r ?: parse_value(ps, fd, slot);
}

static int parse_message_body(struct parser *ps, const ProtobufCMessageDescriptor *d,
			      ProtobufCMessage *m)
{
	bool *seen = calloc(d->n_fields + 1, sizeof(bool));
	int r = seen ? expect(ps, '{', "an object") : fail(ps, -ENOMEM, "out of memory");

	while (!r && !peek(ps, '}')) {
		const ProtobufCFieldDescriptor *fd;
		const char *at;
		char *key;

		ws(ps);
		at = ps->p;
		r = parse_string(ps, &key);
		if (r)
			break;
		r = expect(ps, ':', "':' after a key");
		if (r) {
			free(key);
			break;
		}
		fd = find_field(d, key);
		if (!fd && ps->opts && ps->opts->ignore_unknown) {
			ps->opts->unknown++;
			r = skip_value(ps);
		} else if (!fd) {
			ps->p = at;
			r = fail(ps, -ENOENT, "unknown field '%s' in %s", key, d->name);
		} else if (seen[fd - d->fields]) {
			ps->p = at;
			r = fail(ps, -EINVAL, "field '%s' given twice", key);
		} else {
			seen[fd - d->fields] = true;
			r = parse_field(ps, fd, m);
		}
		free(key);
		if (!r && !peek(ps, '}'))
			r = expect(ps, ',', "',' or '}'");
	}
	free(seen);
	return r ?: expect(ps, '}', "'}'");
}

int pb_json_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
		  struct pb_json_parse_opts *opts, ProtobufCMessage **out, size_t *end,
		  struct errmsg *e)
{
	struct parser ps = {text, text, text + len, opts, e, 0};
	ProtobufCMessage *m = new_message(d);
	bool done;
	int r;

	*out = NULL;
	if (!m)
		return errmsg_set(e, -ENOMEM, "out of memory");
	r = parse_well_known(&ps, m, &done);
	if (!r && !done)
		r = parse_message_body(&ps, d, m);
	if (!r && end) {
		*end = (size_t)(ps.p - text);
	} else if (!r) {
		ws(&ps);
		if (ps.p != ps.end)
			r = fail(&ps, -EINVAL, "unexpected text after the object");
	}
	if (r) {
		protobuf_c_message_free_unpacked(m, NULL);
		return r;
	}
	*out = m;
	return 0;
}
