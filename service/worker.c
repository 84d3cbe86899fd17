/*
 * worker.c - a worker thread: it owns one loop and everything that runs on
 * it (HTTP server, demo listeners, DNS resolver), and nothing of any other
 * worker; the rate limiter is the one thing they share and write. main()
 * builds all workers on its own thread, starts their threads, and on
 * SIGTERM asks each to drain through a loop_async.
 */
#include "worker.h"
#include "worker_int.h"
#include "config.h"
#include "listeners.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "np.h"
#include "routes.h"
#include "server.h"
#include "dns.h"
#include "fetch.h"
#include "h2.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* How often a draining worker checks whether its requests have finished. */
#define DRAIN_POLL_MS 10u

struct worker {
	unsigned id;
	struct worker_shared *sh;
	struct loop *loop;
	struct metrics *metrics;
	struct server *server;
	struct listeners *listeners;
	struct dns_resolver *dns;
	struct fetcher *fetch;
	struct h2_server *h2; /* --doh-port, or NULL */
	struct loop_async *drain_async;
	struct loop_timer *drain_timer;
	uint64_t drain_deadline_ms;
	atomic_int ready;
	pthread_t thread;
	int started;
};

struct loop *worker_loop(const struct worker *w)
{
	return w->loop;
}

const struct config *worker_config(const struct worker *w)
{
	return w->sh->cfg;
}

const struct policy *worker_policy(const struct worker *w)
{
	return w->sh->policy;
}

struct metrics *worker_metrics(const struct worker *w)
{
	return w->metrics;
}

struct dns_resolver *worker_dns(const struct worker *w)
{
	return w->dns;
}

struct fetcher *worker_fetcher(const struct worker *w)
{
	return w->fetch;
}

unsigned worker_id(const struct worker *w)
{
	return w->id;
}

struct ratelimit *worker_ratelimit(const struct worker *w)
{
	return w->sh->ratelimit;
}

struct metrics *const *worker_all_metrics(const struct worker *w, unsigned *n)
{
	*n = w->sh->nworkers;
	return w->sh->all_metrics;
}

int worker_ready(const struct worker *w)
{
	return atomic_load(&w->ready);
}

static void drain_check(void *ud)
{
	struct worker *w = ud;

	if (server_inflight(w->server) + h2_inflight(w->h2) == 0) {
		loop_stop(w->loop);
		return;
	}
	if (loop_now_ms(w->loop) >= w->drain_deadline_ms) {
		LOG(LOG_WARN, "worker %u: grace period over, cancelling %u request(s)", w->id,
		    server_inflight(w->server));
		server_cancel_pending(w->server);
		/* Give MHD a few rounds to send the 503s, then stop regardless. */
		w->drain_deadline_ms = UINT64_MAX;
		loop_timer_arm(w->drain_timer, 200);
		return;
	}
	if (w->drain_deadline_ms == UINT64_MAX) {
		loop_stop(w->loop);
		return;
	}
	loop_timer_arm(w->drain_timer, DRAIN_POLL_MS);
}

static void on_drain(void *ud)
{
	struct worker *w = ud;

	if (!atomic_exchange(&w->ready, 0))
		return;
	server_quiesce(w->server);
	h2_quiesce(w->h2);
	listeners_free(w->listeners);
	w->listeners = NULL;
	w->drain_deadline_ms = loop_now_ms(w->loop) + w->sh->cfg->shutdown_grace_ms;
	drain_check(w);
}

int worker_new(unsigned id, struct worker_shared *sh, unsigned port, unsigned *port_out,
	       struct worker **out, char *err, size_t errlen)
{
	struct worker *w;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NP_ENOMEM;
	}
	w->id = id;
	w->sh = sh;
	rc = loop_new(&w->loop);
	if (rc == NP_OK)
		rc = metrics_new(routes_count, &w->metrics);
	if (rc == NP_OK)
		rc = loop_async_new(w->loop, on_drain, w, &w->drain_async);
	if (rc == NP_OK)
		rc = loop_timer_new(w->loop, drain_check, w, &w->drain_timer);
	if (rc != NP_OK) {
		snprintf(err, errlen, "worker %u: cannot create its event loop", id);
		goto fail;
	}
	sh->all_metrics[id] = w->metrics;
	rc = server_new(w, w->loop, sh->cfg, port, sh->tls_cert, sh->tls_key, &w->server, err,
			errlen);
	if (rc != NP_OK)
		goto fail;
	rc = dns_resolver_new(w->loop, sh->cfg, &w->dns, err, errlen);
	if (rc != NP_OK)
		goto fail;
	rc = fetcher_new(w->loop, &w->fetch);
	if (rc != NP_OK) {
		snprintf(err, errlen, "worker %u: cannot create its HTTP client", id);
		goto fail;
	}
	if (sh->cfg->doh_port != 0) {
		rc = h2_new(w, w->loop, sh->cfg, sh->tls_cert, sh->tls_key, &w->h2, err, errlen);
		if (rc != NP_OK)
			goto fail;
	}
	if (sh->cfg->listeners) {
		rc = listeners_new(w->loop, sh->cfg, w->metrics, &w->listeners, err, errlen);
		if (rc != NP_OK)
			goto fail;
	}
	atomic_store(&w->ready, 1);
	*port_out = server_port(w->server);
	*out = w;
	return NP_OK;
fail:
	worker_free(w);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	if (loop_run(w->loop) != NP_OK)
		LOG(LOG_ERROR, "worker %u: event loop failed", w->id);
	return NULL;
}

int worker_start(struct worker *w)
{
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return NP_ESYS;
	w->started = 1;
	return NP_OK;
}

void worker_drain(struct worker *w)
{
	loop_async_send(w->drain_async);
}

void worker_join(struct worker *w)
{
	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = 0;
	}
}

void worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	/* Order: HTTP first, both servers (they cancel pending handlers and
	 * streams, which may still hold DNS queries), then the modules, then
	 * the loop. */
	server_free(w->server);
	h2_free(w->h2);
	fetcher_free(w->fetch);
	dns_resolver_free(w->dns);
	listeners_free(w->listeners);
	loop_async_free(w->drain_async);
	loop_timer_free(w->drain_timer);
	if (w->sh->all_metrics[w->id] == w->metrics)
		w->sh->all_metrics[w->id] = NULL;
	metrics_free(w->metrics);
	loop_free(w->loop);
	free(w);
}
