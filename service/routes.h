/*
 * routes.h - the route table: method + exact path -> handler. The table
 * itself lives in handlers/routes.c; the server matches on it and answers
 * 404 / 405 (with Allow) for what it does not hold.
 */
#ifndef NP_ROUTES_H
#define NP_ROUTES_H

struct http_req;

typedef void (*route_handler)(struct http_req *r);

enum route_flags {
	ROUTE_DEBUG = 1u,      /* exists only with --debug-endpoints */
	ROUTE_PUBLIC = 2u,     /* no bearer token needed (health, metrics) */
	ROUTE_OPS = 4u,        /* operating the service: never rate-limited or shed */
};

struct route {
	const char *method;
	const char *path;
	route_handler handler;
	unsigned flags;
};

extern const struct route routes_table[];
extern const unsigned routes_count;

/*
 * Finds the route for method+path. Returns its index, or -1 with *allow
 * filled ("GET, POST") when the path exists under other methods (405), or
 * -2 when the path is unknown (404). allow may be NULL.
 */
int routes_match(const char *method, const char *path, int debug_enabled,
		 char *allow, unsigned allow_len);

#endif
