/*
 * handlers.h - one entry point per endpoint. Each handler reads its
 * parameters, validates them (400 naming the parameter), calls a protocol
 * module and turns the result into JSON. See service/http.h for the
 * contract (answer exactly once, now or later).
 */
#ifndef NP_HANDLERS_H
#define NP_HANDLERS_H

struct http_req;

/* handlers/ops.c */
void handle_healthz(struct http_req *r);
void handle_readyz(struct http_req *r);
void handle_version(struct http_req *r);
void handle_metrics(struct http_req *r);
void handle_openapi(struct http_req *r);
void handle_dashboard(struct http_req *r);
void handle_dashboard_js(struct http_req *r);
void handle_dashboard_css(struct http_req *r);
void handle_debug_delay(struct http_req *r);

/* handlers/fetch.c */
void handle_fetch(struct http_req *r);

/* handlers/scan.c */
void handle_scan(struct http_req *r);

/* handlers/rawx.c */
void handle_tcp(struct http_req *r);
void handle_udp(struct http_req *r);

/* handlers/dns.c, rdns.c, doh.c */
void handle_dns(struct http_req *r);
void handle_rdns(struct http_req *r);
void handle_dns_query(struct http_req *r);

/* handlers/policy.c */
void handle_policy_check(struct http_req *r);

#endif
