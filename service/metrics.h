/*
 * metrics.h - per-worker counters, summed when /metrics is scraped.
 *
 * Each worker owns one struct metrics and is its only writer; the scraper
 * (any worker) reads all of them. Counters are relaxed atomics, so reads
 * are tear-free without locks.
 */
#ifndef NP_METRICS_H
#define NP_METRICS_H

#include <stddef.h>

struct metrics;
struct ratelimit;

enum metrics_proto { METRICS_TCP = 0, METRICS_UDP = 1 };

/* Probe kinds and outcomes, for netprobe_probes_total and its histogram. */
enum metrics_probe { PROBE_DNS = 0, PROBE_RDNS, PROBE_DOH, PROBE_FETCH, PROBE_SCAN,
		     PROBE_TCP, PROBE_UDP, PROBE_KIND_MAX };

int metrics_new(unsigned route_count, struct metrics **out);
void metrics_free(struct metrics *m);

/* route: index in routes_table, or -1 for unmatched requests. */
void metrics_request_start(struct metrics *m);
void metrics_request_done(struct metrics *m, int route, unsigned status, double seconds);
/* A request refused with 429 by the per-client rate limit. */
void metrics_rate_limited(struct metrics *m);

void metrics_listener_conn(struct metrics *m, enum metrics_proto p);
void metrics_listener_bytes(struct metrics *m, enum metrics_proto p,
			    unsigned long long in, unsigned long long out);
void metrics_listener_active(struct metrics *m, int delta);

/* A finished probe: ok = the probe completed (even if it found a failure). */
void metrics_probe_done(struct metrics *m, enum metrics_probe kind, const char *outcome_code,
			double seconds);

/*
 * Renders the Prometheus text exposition of all workers' metrics summed,
 * and the shared rate limiter's (rl may be NULL: limiting is off).
 * Returns a malloc'd NUL-terminated string (caller frees) or NULL.
 */
char *metrics_render(struct metrics *const *all, unsigned n, const struct ratelimit *rl);

#endif
