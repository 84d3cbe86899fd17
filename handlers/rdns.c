/*
 * rdns.c - GET /rdns?ip=: the seed's reverse lookup. Asks PTR for the
 * address's in-addr.arpa / ip6.arpa name; with confirm=1 it then resolves
 * each name found forward (A or AAAA) and says whether it maps back to the
 * address (forward-confirmed reverse DNS).
 */
#include "handlers.h"
#include "dns_lookup.h"
#include "http.h"
#include "worker.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define CONFIRM_MAX 10

struct rdns_job {
	struct http_req *req;
	struct dns_group *group;
	struct dns_lookup base;     /* options shared by both steps */
	char ip[INET6_ADDRSTRLEN];
	int family;
	unsigned char addr[16];
	int confirm;
	json_t *doc;                /* built after the PTR step */
	json_t *names;              /* borrowed from doc */
};

static void job_free(struct rdns_job *j)
{
	dns_group_free(j->group);
	json_decref(j->doc);
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

static void on_forward_done(struct dns_group *g, void *ud)
{
	struct rdns_job *j = ud;
	json_t *list = json_array();
	int any = 0;
	uint16_t want = j->family == AF_INET ? DNS_T_A : DNS_T_AAAA;

	for (size_t i = 0; i < dns_group_size(g); i++) {
		const struct dns_result *res = dns_group_result(g, i);
		json_t *addrs = json_array();
		json_t *item;
		int ok = 0;

		if (res->status == NP_OK) {
			for (size_t k = 0; k < res->msg->n_answer; k++) {
				const struct dns_rr *rr = &res->msg->answer[k];

				if (rr->type != want)
					continue;
				json_array_append_new(addrs, json_string(rr->data));
				ok |= same_addr(j, rr->data);
			}
		}
		item = json_pack("{s:s, s:o, s:b}", "name", dns_group_lookup(g, i)->name,
				 "addresses", addrs, "confirmed", ok);
		if (res->status != NP_OK) {
			json_object_set_new(item, "error",
					    json_pack("{s:s, s:s}", "code",
						      np_status_code(res->status), "message",
						      res->detail));
		} else {
			char rb[DNS_RCODE_TEXT_MAX];

			json_object_set_new(item, "rcode",
					    json_string(dns_rcode_to_text(res->msg->rcode, rb,
									  sizeof(rb))));
		}
		any |= ok;
		json_array_append_new(list, item);
	}
	json_object_set_new(j->doc, "confirmation",
			    json_pack("{s:b, s:o}", "confirmed", any, "names", list));
	http_reply_json(j->req, 200, json_incref(j->doc));
	job_free(j);
}

static void on_ptr_done(struct dns_group *g, void *ud)
{
	struct rdns_job *j = ud;
	const struct dns_result *res = dns_group_result(g, 0);
	json_t *full = dns_result_json(dns_group_lookup(g, 0), res);
	struct dns_lookup fwd[CONFIRM_MAX];
	size_t nfwd = 0;

	j->doc = json_pack("{s:s, s:s, s:s}", "ip", j->ip, "family",
			   j->family == AF_INET ? "ipv4" : "ipv6", "ptr_name",
			   dns_group_lookup(g, 0)->name);
	j->names = json_array();
	json_object_set_new(j->doc, "names", j->names);
	/* Keep the whole lookup (status, rcode, sections, timing) beside. */
	json_object_set(j->doc, "status", json_object_get(full, "status"));
	if (json_object_get(full, "rcode") != NULL)
		json_object_set(j->doc, "rcode", json_object_get(full, "rcode"));
	if (json_object_get(full, "error") != NULL)
		json_object_set(j->doc, "error", json_object_get(full, "error"));
	json_object_set_new(j->doc, "lookup", full);
	if (res->status == NP_OK) {
		/* PTR records, whether direct or behind an RFC 2317 CNAME. */
		for (size_t i = 0; i < res->msg->n_answer; i++) {
			const struct dns_rr *rr = &res->msg->answer[i];

			if (rr->type != DNS_T_PTR)
				continue;
			json_array_append_new(j->names, json_string(rr->data));
			if (j->confirm && nfwd < CONFIRM_MAX &&
			    dns_name_validate(rr->data, NULL, 0) == NP_OK) {
				fwd[nfwd] = j->base;
				snprintf(fwd[nfwd].name, sizeof(fwd[nfwd].name), "%s", rr->data);
				fwd[nfwd].qtype = j->family == AF_INET ? DNS_T_A : DNS_T_AAAA;
				nfwd++;
			}
		}
	}
	dns_group_free(j->group);
	j->group = NULL;
	if (nfwd == 0) {
		if (j->confirm)
			json_object_set_new(j->doc, "confirmation",
					    json_pack("{s:b, s:[]}", "confirmed", 0, "names"));
		http_reply_json(j->req, 200, json_incref(j->doc));
		job_free(j);
		return;
	}
	if (dns_group_start(http_req_worker(j->req), PROBE_RDNS, fwd, nfwd, 0, on_forward_done, j,
			    &j->group) != NP_OK) {
		json_object_set_new(j->doc, "confirmation",
				    json_pack("{s:b, s:[], s:{s:s, s:s}}", "confirmed", 0, "names",
					      "error", "code", "out_of_memory", "message",
					      "could not start the forward lookups"));
		http_reply_json(j->req, 200, json_incref(j->doc));
		job_free(j);
	}
}

void handle_rdns(struct http_req *r)
{
	struct dns_params p = {.req = r, .json = NULL, .prefix = ""};
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
				    &j->group) != NP_OK) {
			free(j);
			http_reply_problem(r, 503, NULL, "cannot start the lookup");
			return;
		}
	}
	http_req_on_cancel(r, on_cancel, j);
}
