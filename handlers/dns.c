/*
 * dns.c - GET /dns (one query, or the same query to several servers for
 * comparison) and POST /dns (a batch answered concurrently, results in
 * order). Formats: our native JSON, or with format=doh / Accept:
 * application/dns-json the Google / Cloudflare DNS JSON shape. Answers are
 * written with service/jsonw.h, capped at DNS_REPLY_MAX.
 */
#include "handlers.h"
#include "config.h"
#include "dns_batch_body.h"
#include "dns_lookup.h"
#include "http.h"
#include "jsonw.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPARE_MAX 10

enum dns_mode { MODE_SINGLE, MODE_COMPARE, MODE_BATCH };

struct dns_job {
	struct http_req *req;
	struct dns_group *group;
	enum dns_mode mode;
	int google;
	/* Single answers and batches are written as results come in, in
	 * order (compare needs every answer first, for "agree"): the JSON
	 * work overlaps the queries still in flight. */
	struct jsonw *w;
};

static void job_free(struct dns_job *j)
{
	dns_group_free(j->group);
	jsonw_free(j->w);
	free(j);
}

static void on_cancel(void *ud)
{
	job_free(ud);
}

/* ---- servers= comparison ---- */

/* Orders records by (name, type, data); TTLs and class aside. */
static int rr_cmp(const void *a, const void *b)
{
	const struct dns_rr *x = *(const struct dns_rr *const *)a;
	const struct dns_rr *y = *(const struct dns_rr *const *)b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return strcmp(x->data, y->data);
}

/*
 * A result's answer records sorted by rr_cmp, in *out (free() it; NULL
 * with *n = 0 for a failed lookup or an empty answer). -1 when out of
 * memory.
 */
static int sorted_answer(const struct dns_result *res, const struct dns_rr ***out, size_t *n)
{
	const struct dns_rr **set;

	*out = NULL;
	*n = 0;
	if (res->status != NP_OK || res->msg->n_answer == 0)
		return 0;
	set = malloc(res->msg->n_answer * sizeof(*set));
	if (set == NULL)
		return -1;
	for (size_t i = 0; i < res->msg->n_answer; i++)
		set[i] = &res->msg->answer[i];
	qsort(set, res->msg->n_answer, sizeof(*set), rr_cmp);
	*out = set;
	*n = res->msg->n_answer;
	return 0;
}

/*
 * Answer sets agree when rcodes match (a failed lookup counts as one
 * more rcode) and the answers hold the same (name, type, data) records,
 * TTLs and order aside. Sets *agree; -1 when out of memory.
 */
static int compare_agree(struct dns_group *g, int *agree)
{
	const struct dns_rr **first = NULL, **set = NULL;
	size_t n_first = 0, n_set = 0;
	int first_rcode = -1, rc = -1;

	*agree = 1;
	for (size_t i = 0; i < dns_group_size(g); i++) {
		const struct dns_result *res = dns_group_result(g, i);
		int rcode = res->status == NP_OK ? res->msg->rcode : -2;

		if (i == 0) {
			if (sorted_answer(res, &first, &n_first) != 0)
				goto done;
			first_rcode = rcode;
			continue;
		}
		if (sorted_answer(res, &set, &n_set) != 0)
			goto done;
		if (rcode != first_rcode || n_set != n_first)
			*agree = 0;
		for (size_t k = 0; *agree && k < n_set; k++) {
			if (rr_cmp(&set[k], &first[k]) != 0)
				*agree = 0;
		}
		free(set);
		set = NULL;
	}
	rc = 0;
done:
	free(first);
	free(set);
	return rc;
}

/* ---- answers ---- */

static void result_write(struct jsonw *w, const struct dns_job *j, struct dns_group *g, size_t i)
{
	if (j->google)
		dns_result_google_write(w, dns_group_lookup(g, i), dns_group_result(g, i));
	else
		dns_result_write(w, dns_group_lookup(g, i), dns_group_result(g, i));
}

static void on_item_ready(struct dns_group *g, size_t i, void *ud)
{
	struct dns_job *j = ud;

	result_write(j->w, j, g, i);
	dns_group_release(g, i); /* written: a big batch need not hold every answer */
}

static void on_group_done(struct dns_group *g, void *ud)
{
	struct dns_job *j = ud;
	struct jsonw *w = j->w;
	/* Cloudflare serves the JSON API as application/dns-json. */
	const char *ctype = j->mode == MODE_SINGLE && j->google ? "application/dns-json"
								  : "application/json";
	int agree;

	j->w = NULL; /* dns_reply() takes it */
	switch (j->mode) {
	case MODE_SINGLE:
		break; /* on_item_ready wrote it */
	case MODE_COMPARE:
		w = jsonw_new(DNS_REPLY_MAX);
		if (w == NULL || compare_agree(g, &agree) != 0) {
			jsonw_free(w);
			w = NULL;
			break;
		}
		jsonw_object_begin(w);
		jsonw_key(w, "results");
		jsonw_array_begin(w);
		for (size_t i = 0; i < dns_group_size(g); i++)
			result_write(w, j, g, i);
		jsonw_array_end(w);
		jsonw_kbool(w, "agree", agree);
		jsonw_object_end(w);
		break;
	case MODE_BATCH:
		jsonw_array_end(w);
		jsonw_object_end(w);
		break;
	}
	dns_reply(j->req, w, ctype); /* w NULL: 503 out of memory */
	job_free(j);
}

static int wants_google(struct http_req *r, const char *format, int *out)
{
	const char *accept = http_req_header(r, "Accept");

	*out = 0;
	if (format != NULL) {
		if (strcmp(format, "doh") == 0 || strcmp(format, "google") == 0) {
			*out = 1;
		} else if (strcmp(format, "native") != 0 && strcmp(format, "json") != 0) {
			http_reply_problem(r, 400, "format", "must be native or doh (Google JSON)");
			return -1;
		}
		return 0;
	}
	if (accept != NULL && strstr(accept, "application/dns-json") != NULL)
		*out = 1;
	return 0;
}

/* Starts the job's group; with `owned`, qs (malloc'd) is the group's
 * from here on, whatever happens. Frees j when it cannot start. */
static void start(struct http_req *r, struct dns_job *j, struct dns_lookup *qs, size_t n,
		  int owned)
{
	int rc = NP_ENOMEM;

	if (j->mode != MODE_COMPARE) {
		j->w = jsonw_new(DNS_REPLY_MAX);
		if (j->w == NULL) {
			if (owned)
				free(qs);
			goto fail;
		}
		if (j->mode == MODE_BATCH) {
			jsonw_object_begin(j->w);
			jsonw_kuint(j->w, "count", n);
			jsonw_key(j->w, "results");
			jsonw_array_begin(j->w);
		}
	}
	rc = owned ? dns_group_start_owned(http_req_worker(r), PROBE_DNS, qs, n, 0, on_group_done,
					   j, &j->group)
		   : dns_group_start(http_req_worker(r), PROBE_DNS, qs, n, 0, on_group_done, j,
				     &j->group);
	if (rc != NP_OK)
		goto fail;
	if (j->w != NULL)
		dns_group_set_item_cb(j->group, on_item_ready);
	http_req_on_cancel(r, on_cancel, j);
	return;
fail:
	job_free(j);
	http_reply_problem(r, 503, NULL, "cannot start the lookup: %s",
			   np_strerror((enum np_status)rc));
}

static void dns_get(struct http_req *r)
{
	struct dns_params p = {.req = r};
	struct dns_lookup q, qs[COMPARE_MAX];
	const char *servers = http_req_query(r, "servers");
	struct dns_job *j;
	size_t n = 1;
	int google;

	if (wants_google(r, http_req_query(r, "format"), &google) != 0)
		return;
	if (dns_lookup_read(r, &p, NULL, 1, &q) != 0)
		return;
	qs[0] = q;
	if (servers != NULL) {
		const char *s = servers;

		if (http_req_query(r, "server") != NULL) {
			http_reply_problem(r, 400, "servers", "give either server or servers, not both");
			return;
		}
		n = 0;
		while (*s != '\0') {
			const char *comma = strchr(s, ',');
			size_t len = comma ? (size_t)(comma - s) : strlen(s);
			char one[80];

			if (n == COMPARE_MAX) {
				http_reply_problem(r, 400, "servers", "at most %d servers",
						   COMPARE_MAX);
				return;
			}
			if (len == 0 || len >= sizeof(one)) {
				http_reply_problem(r, 400, "servers",
						   "a comma-separated list of ip[:port] is required");
				return;
			}
			memcpy(one, s, len);
			one[len] = '\0';
			qs[n] = q;
			if (dns_server_check(r, "servers", one, qs[n].server,
					     sizeof(qs[n].server)) != 0)
				return;
			n++;
			s += len;
			if (*s == ',')
				s++;
		}
		if (n == 0) {
			http_reply_problem(r, 400, "servers", "no server given");
			return;
		}
		if (google) {
			http_reply_problem(r, 400, "format",
					   "the Google JSON shape holds one answer: not with servers");
			return;
		}
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	j->req = r;
	j->google = google;
	j->mode = servers != NULL ? MODE_COMPARE : MODE_SINGLE;
	start(r, j, qs, n, 0);
}

/*
 * The batch's body: most are {"queries":["name",...], defaults...}, which
 * dns_batch_body_scan() reads without building a jansson string per name;
 * any other shape goes through jansson, with the same answers.
 */
struct batch_body {
	struct dns_batch_body *fast;
	json_t *doc;  /* the whole body (jansson) or the fast path's defaults */
	json_t *list; /* jansson's "queries" (NULL on the fast path) */
	size_t n;
};

/* 0 with b filled, or -1 having answered 400/503. */
static int batch_body_read(struct http_req *r, struct batch_body *b)
{
	size_t len;
	const unsigned char *raw = http_req_body(r, &len);
	int rc = len > 0 ? dns_batch_body_scan((const char *)raw, len,
					       worker_config(http_req_worker(r))->dns_batch_max,
					       &b->fast)
			 : 0;

	if (rc < 0) {
		http_reply_problem(r, 503, NULL, "out of memory");
		return -1;
	}
	if (rc == 1) {
		b->doc = json_incref(dns_batch_body_rest(b->fast));
		b->n = dns_batch_body_count(b->fast);
		return 0;
	}
	b->doc = http_req_json_body(r);
	if (b->doc == NULL)
		return -1;
	b->list = json_object_get(b->doc, "queries");
	b->n = json_is_array(b->list) ? json_array_size(b->list) : 0;
	return 0;
}

static void batch_body_free(struct batch_body *b)
{
	json_decref(b->doc);
	dns_batch_body_free(b->fast);
}

static void dns_post(struct http_req *r)
{
	const struct config *c = worker_config(http_req_worker(r));
	struct batch_body body = {0};
	struct dns_params top = {.req = r};
	struct dns_lookup defaults, *qs = NULL;
	struct dns_job *j = NULL;
	size_t n;
	int google;

	if (batch_body_read(r, &body) != 0)
		return;
	top.json = body.doc;
	{
		json_t *fmt = json_object_get(body.doc, "format");

		if (fmt != NULL && !json_is_string(fmt)) {
			http_reply_problem(r, 400, "format", "must be a string");
			goto done;
		}
		if (wants_google(r, fmt ? json_string_value(fmt) : NULL, &google) != 0)
			goto done;
	}
	n = body.n;
	if (n == 0) {
		http_reply_problem(r, 400, "queries", "a non-empty array of queries is required");
		goto done;
	}
	if (n > c->dns_batch_max) {
		http_reply_problem(r, 400, "queries", "%zu queries; the maximum is %u (--dns-batch-max)",
				   n, c->dns_batch_max);
		goto done;
	}
	if (json_object_get(body.doc, "name") != NULL) {
		http_reply_problem(r, 400, "name",
				   "a batch has no top-level name: give names in queries");
		goto done;
	}
	/* Top-level fields are defaults for every query. */
	if (dns_lookup_read(r, &top, NULL, 0, &defaults) != 0)
		goto done;
	qs = malloc(n * sizeof(*qs));
	if (qs == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *item = body.fast != NULL ? NULL : json_array_get(body.list, i);
		struct dns_params p = {.req = r, .list = "queries", .index = i};

		/* A bare string is a name with the defaults. */
		if (body.fast != NULL) {
			p.name = dns_batch_body_name(body.fast, i);
		} else if (json_is_string(item)) {
			p.name = json_string_value(item);
		} else if (json_is_object(item)) {
			p.json = item;
		} else {
			char name[40];

			snprintf(name, sizeof(name), "queries[%zu]", i);
			http_reply_problem(r, 400, name, "each query is an object or a name");
			goto done;
		}
		if (dns_lookup_read(r, &p, &defaults, 1, &qs[i]) != 0)
			goto done;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		goto done;
	}
	j->req = r;
	j->google = google;
	j->mode = MODE_BATCH;
	start(r, j, qs, n, 1);
	qs = NULL; /* the group's now */
done:
	free(qs);
	batch_body_free(&body);
}

void handle_dns(struct http_req *r)
{
	if (strcmp(http_req_method(r), "POST") == 0)
		dns_post(r);
	else
		dns_get(r);
}
