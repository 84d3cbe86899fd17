/*
 * dns.c - GET /dns (one query, or the same query to several servers for
 * comparison) and POST /dns (a batch answered concurrently, results in
 * order). Formats: our native JSON, or with format=doh / Accept:
 * application/dns-json the Google / Cloudflare DNS JSON shape.
 */
#include "handlers.h"
#include "config.h"
#include "dns_lookup.h"
#include "http.h"
#include "worker.h"

#include <stdlib.h>
#include <string.h>

#define COMPARE_MAX 10

enum dns_mode { MODE_SINGLE, MODE_COMPARE, MODE_BATCH };

struct dns_job {
	struct http_req *req;
	struct dns_group *group;
	enum dns_mode mode;
	int google;
};

static void job_free(struct dns_job *j)
{
	dns_group_free(j->group);
	free(j);
}

static void on_cancel(void *ud)
{
	job_free(ud);
}

/* Answer sets agree when rcodes match and the answers hold the same
 * (name, type, data) triples, TTLs and order aside. */
static json_t *sorted_answer_set(const struct dns_result *res)
{
	json_t *set = json_array();

	if (res->status != NP_OK)
		return set;
	for (size_t i = 0; i < res->msg->n_answer; i++) {
		const struct dns_rr *rr = &res->msg->answer[i];
		char *line = NULL;
		size_t len = strlen(rr->name) + strlen(rr->data) + 16;

		line = malloc(len);
		if (line == NULL)
			continue;
		snprintf(line, len, "%s %u %s", rr->name, rr->type, rr->data);
		json_array_append_new(set, json_string(line));
		free(line);
	}
	/* Insertion sort: answer sets are small. */
	for (size_t i = 1; i < json_array_size(set); i++) {
		for (size_t k = i; k > 0; k--) {
			const char *a = json_string_value(json_array_get(set, k - 1));
			const char *b = json_string_value(json_array_get(set, k));

			if (strcmp(a, b) <= 0)
				break;
			json_t *t = json_incref(json_array_get(set, k - 1));

			json_array_set(set, k - 1, json_array_get(set, k));
			json_array_set_new(set, k, t);
		}
	}
	return set;
}

static json_t *compare_json(struct dns_group *g)
{
	json_t *results = json_array();
	json_t *first_set = NULL;
	int first_rcode = -1;
	int agree = 1;

	for (size_t i = 0; i < dns_group_size(g); i++) {
		const struct dns_result *res = dns_group_result(g, i);
		json_t *set = sorted_answer_set(res);
		int rcode = res->status == NP_OK ? res->msg->rcode : -2;

		if (i == 0) {
			first_set = json_incref(set);
			first_rcode = rcode;
		} else if (rcode != first_rcode || !json_equal(set, first_set)) {
			agree = 0;
		}
		json_decref(set);
		json_array_append_new(results, dns_result_json(dns_group_lookup(g, i), res));
	}
	json_decref(first_set);
	return json_pack("{s:o, s:b}", "results", results, "agree", agree);
}

static void on_group_done(struct dns_group *g, void *ud)
{
	struct dns_job *j = ud;
	json_t *body;

	switch (j->mode) {
	case MODE_SINGLE:
		body = j->google ? dns_result_google_json(dns_group_lookup(g, 0),
							  dns_group_result(g, 0))
				 : dns_result_json(dns_group_lookup(g, 0), dns_group_result(g, 0));
		/* Cloudflare serves the JSON API as application/dns-json. */
		http_reply_json_as(j->req, 200, j->google ? "application/dns-json" : "application/json",
				   body);
		break;
	case MODE_COMPARE:
		http_reply_json(j->req, 200, compare_json(g));
		break;
	case MODE_BATCH: {
		json_t *arr = json_array();

		for (size_t i = 0; i < dns_group_size(g); i++)
			json_array_append_new(arr,
					      j->google ? dns_result_google_json(
								  dns_group_lookup(g, i),
								  dns_group_result(g, i))
							: dns_result_json(dns_group_lookup(g, i),
									  dns_group_result(g, i)));
		http_reply_json(j->req, 200, json_pack("{s:i, s:o}", "count",
						       (json_int_t)dns_group_size(g), "results",
						       arr));
		break;
	}
	}
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

static void start(struct http_req *r, struct dns_job *j, const struct dns_lookup *qs, size_t n)
{
	int rc = dns_group_start(http_req_worker(r), PROBE_DNS, qs, n, 0, on_group_done, j,
				 &j->group);

	if (rc != NP_OK) {
		free(j);
		http_reply_problem(r, 503, NULL, "cannot start the lookup: %s",
				   np_strerror((enum np_status)rc));
		return;
	}
	http_req_on_cancel(r, on_cancel, j);
}

static void dns_get(struct http_req *r)
{
	struct dns_params p = {.req = r, .json = NULL, .prefix = ""};
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
	start(r, j, qs, n);
}

static void dns_post(struct http_req *r)
{
	const struct config *c = worker_config(http_req_worker(r));
	json_t *body = http_req_json_body(r);
	json_t *list;
	struct dns_params top = {.req = r, .prefix = ""};
	struct dns_lookup defaults, *qs = NULL;
	struct dns_job *j = NULL;
	size_t n;
	int google;

	if (body == NULL)
		return;
	top.json = body;
	{
		json_t *fmt = json_object_get(body, "format");

		if (fmt != NULL && !json_is_string(fmt)) {
			http_reply_problem(r, 400, "format", "must be a string");
			goto done;
		}
		if (wants_google(r, fmt ? json_string_value(fmt) : NULL, &google) != 0)
			goto done;
	}
	list = json_object_get(body, "queries");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		http_reply_problem(r, 400, "queries", "a non-empty array of queries is required");
		goto done;
	}
	n = json_array_size(list);
	if (n > c->dns_batch_max) {
		http_reply_problem(r, 400, "queries", "%zu queries; the maximum is %u (--dns-batch-max)",
				   n, c->dns_batch_max);
		goto done;
	}
	if (json_object_get(body, "name") != NULL) {
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
		json_t *item = json_array_get(list, i);
		char prefix[40];
		struct dns_params p = {.req = r, .prefix = prefix};
		json_t *wrapped = NULL;

		snprintf(prefix, sizeof(prefix), "queries[%zu].", i);
		/* A bare string is a name with the defaults. */
		if (json_is_string(item)) {
			wrapped = json_pack("{s:O}", "name", item);
			item = wrapped;
		}
		if (!json_is_object(item)) {
			char name[40];

			snprintf(name, sizeof(name), "queries[%zu]", i);
			http_reply_problem(r, 400, name, "each query is an object or a name");
			goto done;
		}
		p.json = item;
		if (dns_lookup_read(r, &p, &defaults, 1, &qs[i]) != 0) {
			json_decref(wrapped);
			goto done;
		}
		json_decref(wrapped);
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		goto done;
	}
	j->req = r;
	j->google = google;
	j->mode = MODE_BATCH;
	start(r, j, qs, n);
done:
	free(qs);
	json_decref(body);
}

void handle_dns(struct http_req *r)
{
	if (strcmp(http_req_method(r), "POST") == 0)
		dns_post(r);
	else
		dns_get(r);
}
