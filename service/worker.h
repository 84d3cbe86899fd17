/*
 * worker.h - one worker thread: its loop, its libmicrohttpd daemon, its
 * metrics, its protocol modules. Workers share nothing but the read-only
 * config and policy, the list of all workers (for /metrics), and the
 * per-client rate limiter (thread-safe: clients' connections land on any
 * worker).
 */
#ifndef NP_WORKER_H
#define NP_WORKER_H

struct worker;
struct loop;
struct config;
struct policy;
struct metrics;
struct dns_resolver;
struct fetcher;
struct ratelimit;

struct loop *worker_loop(const struct worker *w);
const struct config *worker_config(const struct worker *w);
const struct policy *worker_policy(const struct worker *w);
struct metrics *worker_metrics(const struct worker *w);
struct dns_resolver *worker_dns(const struct worker *w);
struct fetcher *worker_fetcher(const struct worker *w);
unsigned worker_id(const struct worker *w);
/* The rate limiter all workers share (any thread), or NULL when off. */
struct ratelimit *worker_ratelimit(const struct worker *w);
/* All workers' metrics, for rendering /metrics. */
struct metrics *const *worker_all_metrics(const struct worker *w, unsigned *n);
/* 1 while the service accepts work; 0 once draining (readyz turns 503). */
int worker_ready(const struct worker *w);

#endif
