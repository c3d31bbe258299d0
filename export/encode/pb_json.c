/* Canonical proto3 JSON for any protobuf-c message, walking its descriptors (see
 * include/flowscope/encode/pb_json.h). Keys are the proto field names, as `hubble observe -o json`
 * prints them. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/base/clock.h"
#include "flowscope/base/pb_pack.h"
#include "flowscope/encode/pb_json.h"

static int write_message(struct buf *out, const ProtobufCMessage *m);

static int write_base64(struct buf *out, const uint8_t *d, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	int err = buf_putc(out, '"');

	for (i = 0; !err && i + 2 < n; i += 3) {
		char q[4] = {tab[d[i] >> 2], tab[((d[i] & 3) << 4) | (d[i + 1] >> 4)],
			     tab[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)], tab[d[i + 2] & 63]};
		err = buf_append(out, q, 4);
	}
	if (!err && n - i == 1) {
		char q[4] = {tab[d[i] >> 2], tab[(d[i] & 3) << 4], '=', '='};
		err = buf_append(out, q, 4);
	} else if (!err && n - i == 2) {
		char q[4] = {tab[d[i] >> 2], tab[((d[i] & 3) << 4) | (d[i + 1] >> 4)],
			     tab[(d[i + 1] & 15) << 2], '='};
		err = buf_append(out, q, 4);
	}
	return err ? err : buf_putc(out, '"');
}

static int write_double(struct buf *out, double v)
{
	char tmp[40];
	int prec;

	if (isnan(v))
		return buf_puts(out, "\"NaN\"");
	if (isinf(v))
		return buf_puts(out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	/* The shortest text that reads back as the same double. */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	return buf_puts(out, tmp);
}

/* v as exactly n decimal digits at p (leading zeros); returns p + n. */
static char *put_digits(char *p, unsigned v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

/* RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits, as canonical protobuf JSON has it.
 * Formatted by hand: strftime and printf were a tenth of an NDJSON replay (perf). */
static int write_timestamp(struct buf *out, int64_t secs, int32_t nanos)
{
	struct clock_civil c;
	char text[48], *p = text;

	/* Years 0 to 9999: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
	if (secs < -62167219200LL || secs > 253402300799LL || nanos < 0 || nanos > 999999999)
		return -EINVAL;
	clock_civil(secs, &c); /* not gmtime_r: its lock was a twentieth of an NDJSON line */
	*p++ = '"';
	p = put_digits(p, (unsigned)c.year, 4);
	*p++ = '-';
	p = put_digits(p, c.mon, 2);
	*p++ = '-';
	p = put_digits(p, c.mday, 2);
	*p++ = 'T';
	p = put_digits(p, c.hour, 2);
	*p++ = ':';
	p = put_digits(p, c.min, 2);
	*p++ = ':';
	p = put_digits(p, c.sec, 2);
	if (nanos) {
		*p++ = '.';
		if (nanos % 1000000 == 0)
			p = put_digits(p, (unsigned)nanos / 1000000, 3);
		else if (nanos % 1000 == 0)
			p = put_digits(p, (unsigned)nanos / 1000, 6);
		else
			p = put_digits(p, (unsigned)nanos, 9);
	}
	*p++ = 'Z';
	*p++ = '"';
	return buf_append(out, text, (size_t)(p - text));
}

static int write_duration(struct buf *out, int64_t secs, int32_t nanos)
{
	const char *sign = (secs < 0 || nanos < 0) ? "-" : "";
	uint64_t s = (uint64_t)(secs < 0 ? -secs : secs);
	int32_t n = nanos < 0 ? -nanos : nanos;

	if (n == 0)
		return buf_printf(out, "\"%s%" PRIu64 "s\"", sign, s);
	if (n % 1000000 == 0)
		return buf_printf(out, "\"%s%" PRIu64 ".%03ds\"", sign, s, n / 1000000);
	if (n % 1000 == 0)
		return buf_printf(out, "\"%s%" PRIu64 ".%06ds\"", sign, s, n / 1000);
	return buf_printf(out, "\"%s%" PRIu64 ".%09ds\"", sign, s, n);
}

/* ,"name": (no comma before the first field). Field names need no escaping. */
static int write_name(struct buf *out, const char *name, int first)
{
	size_t n = strlen(name);
	char *p;

	if (buf_reserve(out, n + 4))
		return -ENOMEM;
	p = out->data + out->len;
	if (!first)
		*p++ = ',';
	*p++ = '"';
	memcpy(p, name, n);
	p += n;
	*p++ = '"';
	*p++ = ':';
	*p = '\0';
	out->len = (size_t)(p - out->data);
	return 0;
}

/* One value of a field (an element, for repeated fields) at p. */
static int write_value(struct buf *out, const ProtobufCFieldDescriptor *fd, const void *p)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return buf_put_i64(out, *(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return buf_put_u64(out, *(const uint32_t *)p);
	/* 64-bit integers are strings in proto3 JSON: JavaScript numbers lose precision. */
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return buf_putc(out, '"') ?: buf_put_i64(out, *(const int64_t *)p) ?: buf_putc(out, '"');
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return buf_putc(out, '"') ?: buf_put_u64(out, *(const uint64_t *)p) ?: buf_putc(out, '"');
	case PROTOBUF_C_TYPE_FLOAT:
		return write_double(out, *(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return write_double(out, *(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return buf_puts(out, *(const protobuf_c_boolean *)p ? "true" : "false");
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
			(const ProtobufCEnumDescriptor *)fd->descriptor, v);

		if (ev)
			return buf_putc(out, '"') ?: buf_puts(out, ev->name) ?: buf_putc(out, '"');
		return buf_put_i64(out, v);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return buf_json_str(out, s ? s : "", s ? strlen(s) : 0);
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;

		return write_base64(out, b->data, b->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;

		return m ? write_message(out, m) : buf_puts(out, "null");
	}
	}
	return -EINVAL;
}

/* Whether a singular field is present: proto3 omits zero, empty and false. */
static int is_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	const char *base = (const char *)m;
	const void *p = base + fd->offset;

	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + fd->quantifier_offset) == fd->id;
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
		return *(ProtobufCMessage *const *)p != NULL;
	if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset)
		return *(const protobuf_c_boolean *)(base + fd->quantifier_offset);
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return *(const uint32_t *)p != 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)p != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p != 0;
	case PROTOBUF_C_TYPE_ENUM:
		return *(const int *)p != 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return s && s[0];
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	}
	return 0;
}

/* Well-known types that canonical JSON writes as something other than an object. */
static int write_well_known(struct buf *out, const ProtobufCMessage *m, int *done)
{
	const char *name = m->descriptor->name;
	const ProtobufCFieldDescriptor *fd;

	*done = 0;
	if (strncmp(name, "google.protobuf.", 16)) /* most messages: one byte compared */
		return 0;
	*done = 1;
	if (!strcmp(name, "google.protobuf.Timestamp") ||
	    !strcmp(name, "google.protobuf.Duration")) {
		const char *base = (const char *)m;
		int64_t secs = 0;
		int32_t nanos = 0;
		unsigned int i;

		for (i = 0; i < m->descriptor->n_fields; i++) {
			fd = &m->descriptor->fields[i];
			if (fd->id == 1)
				secs = *(const int64_t *)(base + fd->offset);
			else if (fd->id == 2)
				nanos = *(const int32_t *)(base + fd->offset);
		}
		if (name[16] == 'T')
			return write_timestamp(out, secs, nanos);
		return write_duration(out, secs, nanos);
	}
	if (strlen(name) > 21 && !strcmp(name + strlen(name) - 5, "Value") &&
	    m->descriptor->n_fields == 1 && strcmp(name, "google.protobuf.Value")) {
		/* BoolValue, Int64Value, StringValue, ...: the bare value, even when zero. */
		fd = &m->descriptor->fields[0];
		return write_value(out, fd, (const char *)m + fd->offset);
	}
	*done = 0;
	return 0;
}

static int write_message(struct buf *out, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	unsigned int i;
	int err, done, first = 1;

	err = write_well_known(out, m, &done);
	if (done || err)
		return err;
	err = buf_putc(out, '{');
	for (i = 0; !err && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];

		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + fd->quantifier_offset), j;
			const char *arr = *(char *const *)(base + fd->offset);
			size_t es = pb_value_size(fd->type);

			if (!n)
				continue;
			err = write_name(out, fd->name, first) ?: buf_putc(out, '[');
			for (j = 0; !err && j < n; j++) {
				if (j)
					err = buf_putc(out, ',');
				if (!err)
					err = write_value(out, fd, arr + j * es);
			}
			if (!err)
				err = buf_putc(out, ']');
			first = 0;
			continue;
		}
		if (!is_present(m, fd))
			continue;
		err = write_name(out, fd->name, first);
		if (!err)
			err = write_value(out, fd, base + fd->offset);
		first = 0;
	}
	return err ? err : buf_putc(out, '}');
}

int pb_json_write(struct buf *out, const ProtobufCMessage *msg)
{
	size_t before = out->len;
	int err = write_message(out, msg);

	if (err) {
		out->len = before;
		if (out->data)
			out->data[before] = '\0';
	}
	return err;
}
