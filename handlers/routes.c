/*
 * routes.c - the route table. Every endpoint the service answers is one
 * line here; openapi.yaml must describe exactly these (a test checks it
 * through `netprobe --list-routes`). ROUTE_OPS marks the routes that
 * operate the service, which --rate-limit never refuses.
 */
#include "routes.h"
#include "handlers.h"
#include "np.h"

#include <stdio.h>
#include <string.h>

const struct route routes_table[] = {
	{"GET", "/", handle_dashboard, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/dashboard.js", handle_dashboard_js, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/dashboard.css", handle_dashboard_css, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/healthz", handle_healthz, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/readyz", handle_readyz, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/version", handle_version, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/metrics", handle_metrics, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/openapi.yaml", handle_openapi, ROUTE_PUBLIC | ROUTE_OPS},
	{"GET", "/dns", handle_dns, 0},
	{"POST", "/dns", handle_dns, 0},
	{"GET", "/rdns", handle_rdns, 0},
	/* DoH clients cannot send tokens; it relays only to configured resolvers.
	 * Public, but a probe: --rate-limit applies. */
	{"GET", "/dns-query", handle_dns_query, ROUTE_PUBLIC},
	{"POST", "/dns-query", handle_dns_query, ROUTE_PUBLIC},
	{"GET", "/policy/check", handle_policy_check, 0},
	{"GET", "/fetch", handle_fetch, 0},
	{"POST", "/fetch", handle_fetch, 0},
	{"GET", "/scan", handle_scan, 0},
	{"POST", "/scan", handle_scan, 0},
	{"POST", "/tcp", handle_tcp, 0},
	{"POST", "/udp", handle_udp, 0},
	{"GET", "/debug/delay", handle_debug_delay, ROUTE_DEBUG},
};

const unsigned routes_count = NP_ARRAY_LEN(routes_table);

int routes_match(const char *method, const char *path, int debug_enabled, char *allow,
		 unsigned allow_len)
{
	int path_known = 0;
	size_t used = 0;

	if (allow != NULL && allow_len > 0)
		allow[0] = '\0';
	for (unsigned i = 0; i < routes_count; i++) {
		const struct route *rt = &routes_table[i];

		if ((rt->flags & ROUTE_DEBUG) && !debug_enabled)
			continue;
		if (strcmp(rt->path, path) != 0)
			continue;
		if (strcmp(rt->method, method) == 0)
			return (int)i;
		path_known = 1;
		if (allow != NULL && used < allow_len) {
			int n = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
					 rt->method);

			if (n > 0)
				used += (size_t)n;
			/* GET routes also answer HEAD. */
			if (strcmp(rt->method, "GET") == 0 && used < allow_len) {
				n = snprintf(allow + used, allow_len - used, ", HEAD");
				if (n > 0)
					used += (size_t)n;
			}
		}
	}
	return path_known ? -1 : -2;
}
