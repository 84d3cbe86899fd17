/*
 * dns_lookup.h - what the DNS handlers share: reading one query's
 * parameters (from a query string or a JSON object, with the same rules
 * and messages), running many queries at once as a group that finishes
 * when the last one does, and writing results as JSON (our native shape
 * and the Google/Cloudflare DNS JSON shape) with the streaming writer of
 * service/jsonw.h.
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
struct jsonw;
struct worker;

/* One validated query. */
struct dns_lookup {
	char name[DNS_NAME_TEXT_MAX]; /* as given, with a trailing dot added */
	uint16_t qtype;
	uint16_t qclass;
	unsigned flags;               /* DNS_Q_* */
	int edns;                     /* send an OPT record */
	/* What the OPT record carries: nsid, subnet (ecs_family 0 when not
	 * asked) and udp_size (0 when not given: the default). */
	struct dns_query_edns opt;
	char server[80];              /* canonical ip:port, "" for the defaults */
	int tcp;
	unsigned timeout_ms;
	unsigned tries;
};

/*
 * Where parameters come from: a query string, one JSON object, or a bare
 * name (a batch item given as a string: the name is its only parameter).
 */
struct dns_params {
	struct http_req *req;      /* query string when json and name are NULL */
	json_t *json;              /* borrowed */
	const char *name;          /* borrowed */
	const char *list;          /* messages name "list[index].key"; NULL: "key" */
	size_t index;
};

/*
 * Fills *q from the parameters (name, type, class, server, transport,
 * timeout_ms, tries, rd, cd, ad, do, edns, nsid, subnet, udp_size),
 * applying defaults from
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
	const char *server;        /* the server(s) asked, as text; lives as long
				    * as the group */
	char *server_copy;         /* the group's, when server needed a copy */
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
/* The same with lookups, malloc'd, taken over: the group frees them,
 * and on error they are freed here. Saves copying a batch's queries. */
int dns_group_start_owned(struct worker *w, enum metrics_probe kind, struct dns_lookup *lookups,
			  size_t n, int keep_wire, dns_group_cb cb, void *ud,
			  struct dns_group **out);
/*
 * Reports finished items one by one, in index order, each once: item i
 * as soon as items 0..i have all finished (so a handler can write result
 * i while later ones are still in flight), and all of them before the
 * group's cb. Set it right after a successful start; it never runs from
 * inside the start call.
 */
typedef void (*dns_group_item_cb)(struct dns_group *g, size_t i, void *ud);
void dns_group_set_item_cb(struct dns_group *g, dns_group_item_cb cb);
/* Frees result i's parsed message and wire copy once they are written:
 * the result keeps its status, timing and detail, but msg is NULL. */
void dns_group_release(struct dns_group *g, size_t i);
const struct dns_result *dns_group_result(const struct dns_group *g, size_t i);
const struct dns_lookup *dns_group_lookup(const struct dns_group *g, size_t i);
size_t dns_group_size(const struct dns_group *g);
/* Cancels what is still in flight and frees. NULL-safe. */
void dns_group_free(struct dns_group *g);

/* The most bytes one answer document (a single result, a comparison, a
 * batch) may have. A batch of ordinary answers is ~1 kB per name, so
 * --dns-batch-max 1000 stays far below it; 1,000 answers of 64 kB over
 * TCP would not, and get a 503 that says so, never a cut document. */
#define DNS_REPLY_MAX ((size_t)64 << 20)

/* Native JSON for one result, as one object value: query, timing,
 * status, rcode, header, sections, EDNS, message size. All borrowed; a
 * writer error (the cap) is left in w for dns_reply(). */
void dns_result_write(struct jsonw *w, const struct dns_lookup *q, const struct dns_result *res);
/* The Google / Cloudflare DNS JSON API shape, as one object value. */
void dns_result_google_write(struct jsonw *w, const struct dns_lookup *q,
			     const struct dns_result *res);

#define DNS_OUTCOME_STATUS 0x1u     /* begin with "status": "ok" or "error" */
#define DNS_OUTCOME_RCODE_CODE 0x2u /* "rcode_code" after "rcode" */
/*
 * A result's outcome as members of the object being written: "rcode"
 * (its text) for an answer, "error": {"code", "message"} otherwise,
 * after "status" and followed by "rcode_code" as flags ask. The native
 * shape and /rdns's summaries share it.
 */
void dns_outcome_write(struct jsonw *w, const struct dns_result *res, unsigned flags);

/*
 * Answers 200 with w's document as content_type, or a 503 problem when
 * the writer failed (past DNS_REPLY_MAX, out of memory) or w is NULL
 * (jsonw_new failed). Takes w over (freed).
 */
void dns_reply(struct http_req *r, struct jsonw *w, const char *content_type);

#endif
