/*
 * metrics.c - per-worker counters and their Prometheus text rendering.
 *
 * A worker is the only writer of its struct metrics; any worker may render
 * all of them (summing) when /metrics is scraped. Every cell is a relaxed
 * atomic, so a concurrent read is never torn; a scrape is not a snapshot
 * across cells, which Prometheus does not need.
 *
 * Request metrics are indexed by route (its index in routes_table; the last
 * slot is "unmatched") and by a fixed list of status codes.
 */
#include "metrics.h"
#include "np.h"
#include "ratelimit.h"
#include "routes.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned status_codes[] = {200, 204, 400, 401, 403, 404, 405, 406, 413, 414,
					415, 429, 499, 500, 503, 504, 0 /* other */};
#define NSTATUS NP_ARRAY_LEN(status_codes)

/* Upper bounds in seconds; the +Inf bucket is the count. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1,    0.25,  0.5,    1,     2.5,  5,     10,   30};
#define NBUCKETS NP_ARRAY_LEN(buckets)

#define MAX_OUTCOMES 24

static const char *const probe_names[PROBE_KIND_MAX] = {"dns", "rdns", "doh", "fetch",
							 "scan", "tcp", "udp"};

struct histogram {
	atomic_ullong bucket[NBUCKETS];
	atomic_ullong count;
	atomic_ullong sum_us;
};

struct probe_stats {
	_Atomic(const char *) outcome[MAX_OUTCOMES];
	atomic_ullong outcome_count[MAX_OUTCOMES];
	struct histogram duration;
};

struct metrics {
	unsigned nroutes;              /* routes + 1 for "unmatched" */
	atomic_ullong *requests;       /* [nroutes][NSTATUS] */
	struct histogram *durations;   /* [nroutes] */
	atomic_llong inflight;
	atomic_ullong rate_limited;
	atomic_ullong listener_conns[2];
	atomic_ullong listener_in[2];
	atomic_ullong listener_out[2];
	atomic_llong listener_active;
	struct probe_stats probes[PROBE_KIND_MAX];
};

/* Set by the first metrics_new (main thread, before workers start). */
static time_t start_time;

int metrics_new(unsigned route_count, struct metrics **out)
{
	struct metrics *m;

	*out = NULL;
	if (start_time == 0)
		start_time = time(NULL);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NP_ENOMEM;
	m->nroutes = route_count + 1;
	m->requests = calloc((size_t)m->nroutes * NSTATUS, sizeof(*m->requests));
	m->durations = calloc(m->nroutes, sizeof(*m->durations));
	if (m->requests == NULL || m->durations == NULL) {
		metrics_free(m);
		return NP_ENOMEM;
	}
	*out = m;
	return NP_OK;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->requests);
	free(m->durations);
	free(m);
}

static void add(atomic_ullong *c, unsigned long long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long long get(atomic_ullong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void observe(struct histogram *h, double seconds)
{
	for (size_t i = 0; i < NBUCKETS; i++) {
		if (seconds <= buckets[i]) {
			add(&h->bucket[i], 1);
			break;
		}
	}
	add(&h->count, 1);
	add(&h->sum_us, (unsigned long long)(seconds * 1e6));
}

void metrics_request_start(struct metrics *m)
{
	atomic_fetch_add_explicit(&m->inflight, 1, memory_order_relaxed);
}

void metrics_request_done(struct metrics *m, int route, unsigned status, double seconds)
{
	unsigned r = route < 0 || (unsigned)route >= m->nroutes - 1 ? m->nroutes - 1
								   : (unsigned)route;
	size_t s = NSTATUS - 1;

	for (size_t i = 0; i + 1 < NSTATUS; i++) {
		if (status_codes[i] == status) {
			s = i;
			break;
		}
	}
	add(&m->requests[(size_t)r * NSTATUS + s], 1);
	observe(&m->durations[r], seconds);
	atomic_fetch_sub_explicit(&m->inflight, 1, memory_order_relaxed);
}

void metrics_rate_limited(struct metrics *m)
{
	add(&m->rate_limited, 1);
}

void metrics_listener_conn(struct metrics *m, enum metrics_proto p)
{
	add(&m->listener_conns[p], 1);
}

void metrics_listener_bytes(struct metrics *m, enum metrics_proto p, unsigned long long in,
			    unsigned long long out)
{
	if (in)
		add(&m->listener_in[p], in);
	if (out)
		add(&m->listener_out[p], out);
}

void metrics_listener_active(struct metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->listener_active, delta, memory_order_relaxed);
}

void metrics_probe_done(struct metrics *m, enum metrics_probe kind, const char *outcome_code,
			double seconds)
{
	struct probe_stats *ps = &m->probes[kind];
	size_t i;

	/* Outcome codes are static strings (np_status_code and the like); the
	 * table grows by publishing a pointer, read by scrapers. */
	for (i = 0; i < MAX_OUTCOMES; i++) {
		const char *o = atomic_load_explicit(&ps->outcome[i], memory_order_acquire);

		if (o == NULL) {
			atomic_store_explicit(&ps->outcome[i], outcome_code, memory_order_release);
			break;
		}
		if (o == outcome_code || strcmp(o, outcome_code) == 0)
			break;
	}
	if (i == MAX_OUTCOMES)
		i = MAX_OUTCOMES - 1; /* overflow lands in the last slot */
	add(&ps->outcome_count[i], 1);
	observe(&ps->duration, seconds);
}

/* ---- rendering ---- */

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void out(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;

		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		/* Bounded: the exposition of a fixed set of series stays small. */
		if (t->cap >= (64u << 20)) {
			t->failed = 1;
			return;
		}
		char *nb = realloc(t->buf, t->cap * 2);

		if (nb == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = nb;
		t->cap *= 2;
	}
}

static const char *route_label(unsigned r, unsigned nroutes)
{
	return r + 1 == nroutes ? "unmatched" : routes_table[r].path;
}

static const char *route_method(unsigned r, unsigned nroutes)
{
	return r + 1 == nroutes ? "any" : routes_table[r].method;
}

static void render_histogram(struct text *t, const char *name, const char *labels,
			     struct histogram *const *hs, unsigned n)
{
	unsigned long long cum = 0, count = 0, sum_us = 0;

	for (size_t b = 0; b < NBUCKETS; b++) {
		for (unsigned w = 0; w < n; w++)
			cum += get(&hs[w]->bucket[b]);
		out(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "",
		    buckets[b], cum);
	}
	for (unsigned w = 0; w < n; w++) {
		count += get(&hs[w]->count);
		sum_us += get(&hs[w]->sum_us);
	}
	out(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "", count);
	out(t, "%s_sum{%s} %.6f\n", name, labels, (double)sum_us / 1e6);
	out(t, "%s_count{%s} %llu\n", name, labels, count);
}

char *metrics_render(struct metrics *const *all, unsigned n, const struct ratelimit *rl)
{
	struct text t = {0};
	struct histogram *hs[256];
	unsigned nroutes;
	long long inflight = 0, active = 0;
	unsigned long long limited = 0;
	struct ratelimit_stats rls;
	static const char *const proto_names[2] = {"tcp", "udp"};

	if (n == 0 || n > NP_ARRAY_LEN(hs))
		return NULL;
	t.cap = 16384;
	t.buf = malloc(t.cap);
	if (t.buf == NULL)
		return NULL;
	nroutes = all[0]->nroutes;

	out(&t, "# HELP netprobe_build_info Build information.\n"
		"# TYPE netprobe_build_info gauge\n"
		"netprobe_build_info{version=\"%s\"} 1\n",
	    NETPROBE_VERSION);
	out(&t, "# HELP netprobe_start_time_seconds Start time of the process since the epoch.\n"
		"# TYPE netprobe_start_time_seconds gauge\n"
		"netprobe_start_time_seconds %lld\n",
	    (long long)start_time);
	out(&t, "# HELP netprobe_workers Worker threads serving requests.\n"
		"# TYPE netprobe_workers gauge\nnetprobe_workers %u\n",
	    n);

	out(&t, "# HELP netprobe_http_requests_total HTTP requests answered, by route, method "
		"and status.\n# TYPE netprobe_http_requests_total counter\n");
	for (unsigned r = 0; r < nroutes; r++) {
		for (size_t s = 0; s < NSTATUS; s++) {
			unsigned long long v = 0;

			for (unsigned w = 0; w < n; w++)
				v += get(&all[w]->requests[(size_t)r * NSTATUS + s]);
			if (v == 0)
				continue;
			if (status_codes[s] != 0)
				out(&t,
				    "netprobe_http_requests_total{route=\"%s\",method=\"%s\","
				    "status=\"%u\"} %llu\n",
				    route_label(r, nroutes), route_method(r, nroutes),
				    status_codes[s], v);
			else
				out(&t,
				    "netprobe_http_requests_total{route=\"%s\",method=\"%s\","
				    "status=\"other\"} %llu\n",
				    route_label(r, nroutes), route_method(r, nroutes), v);
		}
	}

	out(&t, "# HELP netprobe_http_request_duration_seconds Time from request start to "
		"completion, by route.\n"
		"# TYPE netprobe_http_request_duration_seconds histogram\n");
	for (unsigned r = 0; r < nroutes; r++) {
		char labels[256];
		unsigned long long total = 0;

		for (unsigned w = 0; w < n; w++) {
			hs[w] = &all[w]->durations[r];
			total += get(&hs[w]->count);
		}
		if (total == 0)
			continue;
		snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"",
			 route_label(r, nroutes), route_method(r, nroutes));
		render_histogram(&t, "netprobe_http_request_duration_seconds", labels, hs, n);
	}

	for (unsigned w = 0; w < n; w++) {
		inflight += atomic_load_explicit(&all[w]->inflight, memory_order_relaxed);
		active += atomic_load_explicit(&all[w]->listener_active, memory_order_relaxed);
	}
	out(&t, "# HELP netprobe_http_requests_in_flight HTTP requests being served.\n"
		"# TYPE netprobe_http_requests_in_flight gauge\n"
		"netprobe_http_requests_in_flight %lld\n",
	    inflight);

	for (unsigned w = 0; w < n; w++)
		limited += get(&all[w]->rate_limited);
	ratelimit_stats(rl, &rls);
	out(&t, "# HELP netprobe_rate_limited_requests_total Probe requests refused with 429 by "
		"the per-client rate limit (--rate-limit).\n"
		"# TYPE netprobe_rate_limited_requests_total counter\n"
		"netprobe_rate_limited_requests_total %llu\n",
	    limited);
	out(&t, "# HELP netprobe_rate_limit_clients Client addresses (IPv6: networks) holding a "
		"slot of the rate limiter's table.\n"
		"# TYPE netprobe_rate_limit_clients gauge\n"
		"netprobe_rate_limit_clients %llu\n",
	    rls.clients);
	out(&t, "# HELP netprobe_rate_limit_slots Size of the rate limiter's table "
		"(--rate-limit-clients, rounded up; 0 when off).\n"
		"# TYPE netprobe_rate_limit_slots gauge\n"
		"netprobe_rate_limit_slots %llu\n",
	    rls.slots);
	out(&t, "# HELP netprobe_rate_limit_evictions_total Clients forgotten by the rate limiter "
		"before their bucket refilled, to make room for another (raise "
		"--rate-limit-clients).\n"
		"# TYPE netprobe_rate_limit_evictions_total counter\n"
		"netprobe_rate_limit_evictions_total %llu\n",
	    rls.evictions);

	out(&t, "# HELP netprobe_listener_connections_total Demo listener TCP connections "
		"accepted and UDP datagrams received.\n"
		"# TYPE netprobe_listener_connections_total counter\n");
	for (int p = 0; p < 2; p++) {
		unsigned long long v = 0;

		for (unsigned w = 0; w < n; w++)
			v += get(&all[w]->listener_conns[p]);
		out(&t, "netprobe_listener_connections_total{proto=\"%s\"} %llu\n",
		    proto_names[p], v);
	}
	out(&t, "# HELP netprobe_listener_received_bytes_total Bytes received by the demo "
		"listeners.\n# TYPE netprobe_listener_received_bytes_total counter\n");
	for (int p = 0; p < 2; p++) {
		unsigned long long v = 0;

		for (unsigned w = 0; w < n; w++)
			v += get(&all[w]->listener_in[p]);
		out(&t, "netprobe_listener_received_bytes_total{proto=\"%s\"} %llu\n",
		    proto_names[p], v);
	}
	out(&t, "# HELP netprobe_listener_sent_bytes_total Bytes sent by the demo listeners.\n"
		"# TYPE netprobe_listener_sent_bytes_total counter\n");
	for (int p = 0; p < 2; p++) {
		unsigned long long v = 0;

		for (unsigned w = 0; w < n; w++)
			v += get(&all[w]->listener_out[p]);
		out(&t, "netprobe_listener_sent_bytes_total{proto=\"%s\"} %llu\n",
		    proto_names[p], v);
	}
	out(&t, "# HELP netprobe_listener_open_connections Demo listener TCP connections open.\n"
		"# TYPE netprobe_listener_open_connections gauge\n"
		"netprobe_listener_open_connections %lld\n",
	    active);

	out(&t, "# HELP netprobe_probes_total Probes finished, by kind and outcome.\n"
		"# TYPE netprobe_probes_total counter\n");
	for (int k = 0; k < PROBE_KIND_MAX; k++) {
		/* Outcome slots differ per worker: sum by name. */
		for (unsigned w = 0; w < n; w++) {
			for (int i = 0; i < MAX_OUTCOMES; i++) {
				const char *o = atomic_load_explicit(&all[w]->probes[k].outcome[i],
								     memory_order_acquire);
				unsigned long long v = 0;
				int seen = 0;

				if (o == NULL)
					break;
				/* Skip a name already printed for an earlier worker. */
				for (unsigned pw = 0; pw < w && !seen; pw++) {
					for (int j = 0; j < MAX_OUTCOMES; j++) {
						const char *po = atomic_load_explicit(
							&all[pw]->probes[k].outcome[j],
							memory_order_acquire);

						if (po == NULL)
							break;
						if (strcmp(po, o) == 0) {
							seen = 1;
							break;
						}
					}
				}
				if (seen)
					continue;
				for (unsigned sw = w; sw < n; sw++) {
					for (int j = 0; j < MAX_OUTCOMES; j++) {
						const char *so = atomic_load_explicit(
							&all[sw]->probes[k].outcome[j],
							memory_order_acquire);

						if (so == NULL)
							break;
						if (strcmp(so, o) == 0)
							v += get(&all[sw]->probes[k].outcome_count[j]);
					}
				}
				out(&t, "netprobe_probes_total{kind=\"%s\",outcome=\"%s\"} %llu\n",
				    probe_names[k], o, v);
			}
		}
	}
	out(&t, "# HELP netprobe_probe_duration_seconds Probe durations, by kind.\n"
		"# TYPE netprobe_probe_duration_seconds histogram\n");
	for (int k = 0; k < PROBE_KIND_MAX; k++) {
		char labels[64];
		unsigned long long total = 0;

		for (unsigned w = 0; w < n; w++) {
			hs[w] = &all[w]->probes[k].duration;
			total += get(&hs[w]->count);
		}
		if (total == 0)
			continue;
		snprintf(labels, sizeof(labels), "kind=\"%s\"", probe_names[k]);
		render_histogram(&t, "netprobe_probe_duration_seconds", labels, hs, n);
	}
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}
