/*
 * rdns.c - GET /rdns?ip=: the seed's reverse lookup. Asks PTR for the
 * address's in-addr.arpa / ip6.arpa name; with confirm=1 it then resolves
 * each name found forward (A or AAAA) and says whether it maps back to the
 * address (forward-confirmed reverse DNS). Both steps' groups are kept
 * until the answer, which is written in one go with service/jsonw.h.
 */
#include "handlers.h"
#include "dns_lookup.h"
#include "http.h"
#include "jsonw.h"
#include "worker.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIRM_MAX 10

struct rdns_job {
	struct http_req *req;
	struct dns_group *ptr;      /* the PTR lookup, kept for the answer */
	struct dns_group *fwd;      /* the forward lookups (confirm=1) */
	struct dns_lookup base;     /* options shared by both steps */
	char ip[INET6_ADDRSTRLEN];
	int family;
	unsigned char addr[16];
	int confirm;
};

static void job_free(struct rdns_job *j)
{
	dns_group_free(j->ptr);
	dns_group_free(j->fwd);
	free(j);
}

static void on_cancel(void *ud)
{
	job_free(ud);
}

/* Does a forward answer's address text equal the asked address? */
static int same_addr(const struct rdns_job *j, const char *text)
{
	unsigned char a[16];

	return inet_pton(j->family, text, a) == 1 &&
	       memcmp(a, j->addr, j->family == AF_INET ? 4 : 16) == 0;
}

static uint16_t forward_type(const struct rdns_job *j)
{
	return j->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* Does forward lookup i map back to the address? */
static int confirmed(const struct rdns_job *j, size_t i)
{
	const struct dns_result *res = dns_group_result(j->fwd, i);

	if (res->status != NP_OK)
		return 0;
	for (size_t k = 0; k < res->msg->n_answer; k++) {
		const struct dns_rr *rr = &res->msg->answer[k];

		if (rr->type == forward_type(j) && same_addr(j, rr->data))
			return 1;
	}
	return 0;
}

/*
 * "confirmation": {"confirmed", "names": [{name, addresses, confirmed,
 * rcode | error}]}, from the forward lookups when there were any, with
 * an "error" when they could not start.
 */
static void confirmation_write(struct jsonw *w, const struct rdns_job *j, int start_failed)
{
	size_t n = j->fwd != NULL ? dns_group_size(j->fwd) : 0;
	int any = 0;

	for (size_t i = 0; i < n; i++)
		any |= confirmed(j, i);
	jsonw_key(w, "confirmation");
	jsonw_object_begin(w);
	jsonw_kbool(w, "confirmed", any);
	jsonw_key(w, "names");
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++) {
		const struct dns_result *res = dns_group_result(j->fwd, i);

		jsonw_object_begin(w);
		jsonw_kstring(w, "name", dns_group_lookup(j->fwd, i)->name);
		jsonw_key(w, "addresses");
		jsonw_array_begin(w);
		for (size_t k = 0; res->status == NP_OK && k < res->msg->n_answer; k++) {
			if (res->msg->answer[k].type == forward_type(j))
				jsonw_string(w, res->msg->answer[k].data);
		}
		jsonw_array_end(w);
		jsonw_kbool(w, "confirmed", confirmed(j, i));
		dns_outcome_write(w, res, 0);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	if (start_failed) {
		jsonw_key(w, "error");
		jsonw_object_begin(w);
		jsonw_kstring(w, "code", "out_of_memory");
		jsonw_kstring(w, "message", "could not start the forward lookups");
		jsonw_object_end(w);
	}
	jsonw_object_end(w);
}

/* Answers from both steps and frees the job. */
static void answer(struct rdns_job *j, int fwd_start_failed)
{
	const struct dns_lookup *q = dns_group_lookup(j->ptr, 0);
	const struct dns_result *res = dns_group_result(j->ptr, 0);
	struct jsonw *w = jsonw_new(DNS_REPLY_MAX);

	if (w != NULL) {
		jsonw_object_begin(w);
		jsonw_kstring(w, "ip", j->ip);
		jsonw_kstring(w, "family", j->family == AF_INET ? "ipv4" : "ipv6");
		jsonw_kstring(w, "ptr_name", q->name);
		jsonw_key(w, "names");
		jsonw_array_begin(w);
		for (size_t i = 0; res->status == NP_OK && i < res->msg->n_answer; i++) {
			if (res->msg->answer[i].type == DNS_T_PTR)
				jsonw_string(w, res->msg->answer[i].data);
		}
		jsonw_array_end(w);
		/* The lookup's outcome at the top, and the whole lookup (status,
		 * rcode, sections, timing) beside. */
		dns_outcome_write(w, res, DNS_OUTCOME_STATUS);
		jsonw_key(w, "lookup");
		dns_result_write(w, q, res);
		if (j->confirm)
			confirmation_write(w, j, fwd_start_failed);
		jsonw_object_end(w);
	}
	dns_reply(j->req, w, "application/json"); /* w NULL: 503 out of memory */
	job_free(j);
}

static void on_forward_done(struct dns_group *g, void *ud)
{
	(void)g; /* j->fwd */
	answer(ud, 0);
}

static void on_ptr_done(struct dns_group *g, void *ud)
{
	struct rdns_job *j = ud;
	const struct dns_result *res = dns_group_result(g, 0);
	struct dns_lookup fwd[CONFIRM_MAX];
	size_t nfwd = 0;

	if (j->confirm && res->status == NP_OK) {
		/* PTR records, whether direct or behind an RFC 2317 CNAME. */
		for (size_t i = 0; i < res->msg->n_answer && nfwd < CONFIRM_MAX; i++) {
			const struct dns_rr *rr = &res->msg->answer[i];

			if (rr->type != DNS_T_PTR || dns_name_validate(rr->data, NULL, 0) != NP_OK)
				continue;
			fwd[nfwd] = j->base;
			snprintf(fwd[nfwd].name, sizeof(fwd[nfwd].name), "%s", rr->data);
			fwd[nfwd].qtype = forward_type(j);
			nfwd++;
		}
	}
	if (nfwd == 0) {
		answer(j, 0);
		return;
	}
	if (dns_group_start(http_req_worker(j->req), PROBE_RDNS, fwd, nfwd, 0, on_forward_done, j,
			    &j->fwd) != NP_OK)
		answer(j, 1);
}

void handle_rdns(struct http_req *r)
{
	struct dns_params p = {.req = r};
	const char *ip = http_req_query(r, "ip");
	struct rdns_job *j;
	char rev[DNS_REVERSE_TEXT_MAX];
	int confirm;

	if (ip == NULL || ip[0] == '\0') {
		http_reply_problem(r, 400, "ip", "an IPv4 or IPv6 address is required");
		return;
	}
	if (http_req_query(r, "name") != NULL || http_req_query(r, "type") != NULL) {
		http_reply_problem(r, 400, http_req_query(r, "name") ? "name" : "type",
				   "/rdns takes ip, not name or type");
		return;
	}
	if (dns_reverse_name(ip, rev, sizeof(rev)) != NP_OK) {
		http_reply_problem(r, 400, "ip", "'%.64s' is not an IPv4 or IPv6 address", ip);
		return;
	}
	if (http_query_bool(r, "confirm", 0, &confirm) != 0)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	if (dns_lookup_read(r, &p, NULL, 0, &j->base) != 0) {
		free(j);
		return;
	}
	j->req = r;
	j->confirm = confirm;
	j->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	inet_pton(j->family, ip, j->addr);
	inet_ntop(j->family, j->addr, j->ip, sizeof(j->ip));
	{
		struct dns_lookup q = j->base;

		snprintf(q.name, sizeof(q.name), "%s.", rev);
		q.qtype = DNS_T_PTR;
		if (dns_group_start(http_req_worker(r), PROBE_RDNS, &q, 1, 0, on_ptr_done, j,
				    &j->ptr) != NP_OK) {
			free(j);
			http_reply_problem(r, 503, NULL, "cannot start the lookup");
			return;
		}
	}
	http_req_on_cancel(r, on_cancel, j);
}
