/*
 * worker_int.h - how main() creates, runs and stops workers. Handlers and
 * modules use only worker.h.
 */
#ifndef NP_WORKER_INT_H
#define NP_WORKER_INT_H

#include <stddef.h>

struct worker;
struct config;
struct policy;
struct metrics;
struct ratelimit;

/* Shared context all workers borrow: read-only, but for the rate limiter,
 * which synchronises itself. */
struct worker_shared {
	const struct config *cfg;
	const struct policy *policy;
	struct ratelimit *ratelimit;   /* --rate-limit, or NULL when off */
	const char *tls_cert;          /* PEM text or NULL */
	const char *tls_key;
	struct metrics **all_metrics;  /* filled in by worker_new, one per worker */
	unsigned nworkers;
};

/* Creates worker `id` (loop, HTTP daemon on `port`, listeners, modules) on
 * the calling thread. *port_out receives the port actually bound. */
int worker_new(unsigned id, struct worker_shared *sh, unsigned port, unsigned *port_out,
	       struct worker **out, char *err, size_t errlen);
/* Starts the worker's thread. */
int worker_start(struct worker *w);
/* Thread-safe: begin draining (stop accepting, finish in-flight requests
 * within the grace period, then stop the loop). */
void worker_drain(struct worker *w);
/* Joins the thread (after worker_drain). */
void worker_join(struct worker *w);
void worker_free(struct worker *w); /* NULL-safe */

#endif
