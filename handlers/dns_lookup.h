/*
 * dns_lookup.h - what the DNS handlers share: reading one query's
 * parameters (from a query string or a JSON object, with the same rules
 * and messages), running many queries at once as a group that finishes
 * when the last one does, and turning results into JSON (our native shape
 * and the Google/Cloudflare DNS JSON shape).
 *
 * Loop thread only.
 */
#ifndef NP_DNS_LOOKUP_H
#define NP_DNS_LOOKUP_H

#include "dns.h"
#include "dns_wire.h"
#include "metrics.h"

#include <jansson.h>
#include <stddef.h>

struct http_req;
struct worker;

/* One validated query. */
struct dns_lookup {
	char name[DNS_NAME_TEXT_MAX]; /* as given, with a trailing dot added */
	uint16_t qtype;
	uint16_t qclass;
	unsigned flags;               /* DNS_Q_* */
	int edns;                     /* send an OPT record */
	char server[80];              /* canonical ip:port, "" for the defaults */
	int tcp;
	unsigned timeout_ms;
	unsigned tries;
};

/* Where parameters come from: a query string or one JSON object. */
struct dns_params {
	struct http_req *req;      /* query string when json is NULL */
	json_t *json;              /* borrowed */
	const char *prefix;        /* for messages: "queries[3]." or "" */
};

/*
 * Fills *q from the parameters (name, type, class, server, transport,
 * timeout_ms, tries, rd, cd, ad, do, edns), applying defaults from
 * `defaults` when given (a batch's top-level settings) and the worker's
 * config. On a bad value answers 400 (or 403 for a server the target
 * policy denies) naming the parameter, and returns -1.
 * `need_name` 0 lets the caller fill the name itself (rdns).
 */
int dns_lookup_read(struct http_req *r, const struct dns_params *p,
		    const struct dns_lookup *defaults, int need_name, struct dns_lookup *q);

/* Checks a server text against syntax and the target policy; answers
 * 400/403 naming `param` and returns -1 when it is not usable. */
int dns_server_check(struct http_req *r, const char *param, const char *text, char *canon,
		     size_t canonlen);

/* The outcome of one query. */
struct dns_result {
	enum np_status status;     /* NP_OK: a message came back and parsed */
	char detail[256];          /* why not */
	struct dns_msg *msg;       /* parsed answer (NULL unless NP_OK) */
	unsigned char *wire;       /* raw answer, kept only when asked */
	size_t wire_len;
	double rtt_ms;
	char server[256];
	const char *transport;
	int tc_retried;
	size_t message_size;
};

struct dns_group;
typedef void (*dns_group_cb)(struct dns_group *g, void *ud);

/*
 * Starts n lookups at once; cb runs once when all have finished (never
 * from inside this call). keep_wire keeps each raw answer. Each finished
 * lookup is counted in the metrics under `kind`. On error nothing runs
 * and *out is NULL. cb may free the group (nothing touches it after cb).
 */
int dns_group_start(struct worker *w, enum metrics_probe kind, const struct dns_lookup *lookups,
		    size_t n, int keep_wire, dns_group_cb cb, void *ud, struct dns_group **out);
const struct dns_result *dns_group_result(const struct dns_group *g, size_t i);
const struct dns_lookup *dns_group_lookup(const struct dns_group *g, size_t i);
size_t dns_group_size(const struct dns_group *g);
/* Cancels what is still in flight and frees. NULL-safe. */
void dns_group_free(struct dns_group *g);

/* Native JSON for one result: query, rcode, flags, sections, timing. */
json_t *dns_result_json(const struct dns_lookup *q, const struct dns_result *res);
/* The Google / Cloudflare DNS JSON API shape. */
json_t *dns_result_google_json(const struct dns_lookup *q, const struct dns_result *res);
/* JSON array of a section's records. */
json_t *dns_rrs_json(const struct dns_rr *rrs, size_t n);

#endif
