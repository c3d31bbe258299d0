/* The relay's archive (see relay/archive.h): replays that reach before the relay's event log
 * read the cluster's history from ClickHouse. Each query runs in a thread of its own (the
 * ClickHouse client blocks; the relay's loop must not), which hands the flows over as RowBinary
 * rows - a whole flow with its node and identities, as the table has it - into a buffer bounded
 * in bytes; the loop decodes them as the follower asks. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowscope/exporters/clickhouse_query.h"
#include "flowscope/exporters/clickhouse_schema.h"
#include "flowscope/relay/archive.h"

#define ARCHIVE_BUFFER (4u << 20) /* rows waiting for the loop, at most */
#define ARCHIVE_TIMEOUT_MS 10000

struct relay_archive {
	struct ch_target t;
};

struct query {
	const struct relay_archive *a;
	struct ch_query q;
	const struct flow_filter_set *fs;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct buf rows; /* made by the thread, not taken yet (under mu) */
	bool done, cancel;
	int err;
	struct errmsg e;
	/* The loop's side. */
	struct buf local;
	size_t off;
	struct ch_flow cf;
};

int relay_archive_new(struct relay_archive **out, const struct ch_target *t)
{
	struct relay_archive *a = calloc(1, sizeof(*a));

	*out = a;
	if (!a)
		return -ENOMEM;
	a->t = *t;
	return 0;
}

void relay_archive_free(struct relay_archive *a)
{
	free(a);
}

/* In the query's thread: each flow as a row for the loop, waiting while the buffer is full. */
static int put_row(const struct flow *f, void *arg)
{
	struct query *q = arg;
	int err;

	pthread_mutex_lock(&q->mu);
	while (q->rows.len >= ARCHIVE_BUFFER && !q->cancel)
		pthread_cond_wait(&q->cv, &q->mu);
	err = q->cancel ? 1 : ch_row_encode(&q->rows, f, "", NULL, 0);
	pthread_mutex_unlock(&q->mu);
	return err;
}

static void *run(void *arg)
{
	struct query *q = arg;
	struct errmsg e = {""};
	int err = ch_query_run(&q->q, &q->a->t, q->fs, ARCHIVE_TIMEOUT_MS, put_row, q, &e);

	pthread_mutex_lock(&q->mu);
	q->done = true;
	q->err = err == -ECANCELED ? 0 : err;
	q->e = e;
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static void *start(void *ctx, uint64_t since_ns, uint64_t until_ns, uint64_t first, uint64_t last,
		   const struct flow_filter_set *filters, struct errmsg *e)
{
	struct query *q = calloc(1, sizeof(*q));
	int err;

	if (!q) {
		errmsg_set(e, -ENOMEM, "out of memory");
		return NULL;
	}
	q->a = ctx;
	q->fs = filters;
	q->q = (struct ch_query){
		.since_ns = since_ns, .until_ns = until_ns, .first = first, .last = last};
	flow_filter_set_sources(filters, &q->q.allow, &q->q.n_allow, &q->q.deny, &q->q.n_deny);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	err = pthread_create(&q->thread, NULL, run, q);
	if (err) {
		errmsg_set(e, -err, "starting a query: %s", strerror(err));
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		free(q);
		return NULL;
	}
	return q;
}

/* Takes what the thread made so far into the loop's buffer. */
static int refill(struct query *q, bool *done)
{
	int err = 0;

	buf_reset(&q->local);
	q->off = 0;
	pthread_mutex_lock(&q->mu);
	if (q->rows.len)
		err = buf_append(&q->local, q->rows.data, q->rows.len);
	buf_reset(&q->rows);
	*done = q->done && !err;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return err;
}

static int next(void *arg, struct flow *f, struct errmsg *e)
{
	struct query *q = arg;
	size_t used;
	bool done = false;
	int err;

	if (q->off >= q->local.len) {
		err = refill(q, &done);
		if (err)
			return errmsg_set(e, err, "out of memory");
		if (!q->local.len) {
			if (!done)
				return -EAGAIN;
			if (q->err)
				return errmsg_set(e, q->err, "%s", errmsg_text(&q->e, q->err));
			return 0;
		}
	}
	err = ch_row_decode((const uint8_t *)q->local.data + q->off, q->local.len - q->off, &used,
			    &q->cf);
	if (err) /* rows are handed over whole: this is ours going wrong */
		return errmsg_set(e, err == -EAGAIN ? -EBADMSG : err, "a row cannot be read back");
	q->off += used;
	*f = q->cf.f;
	return 1;
}

static void stop(void *arg)
{
	struct query *q = arg;

	pthread_mutex_lock(&q->mu);
	q->cancel = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	buf_free(&q->rows);
	buf_free(&q->local);
	ch_flow_free(&q->cf);
	free(q);
}

struct follower_archive relay_archive_ops(struct relay_archive *a)
{
	return (struct follower_archive){.start = start, .next = next, .stop = stop, .ctx = a};
}
