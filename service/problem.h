/*
 * problem.h - RFC 9457 problem documents, one shape for both HTTP servers
 * (server.c for HTTP/1.1, h2.c for HTTP/2): type, title, status, detail,
 * instance, parameter (when one is at fault) and request_id.
 */
#ifndef NP_PROBLEM_H
#define NP_PROBLEM_H

#include <jansson.h>

/* "Not Found", ...; "Error" for a status without its own title. */
const char *problem_title(unsigned status);

/*
 * A new problem document (caller owns it), or NULL without memory.
 * instance is the request path. Text that is not UTF-8 (in instance or
 * detail) has its bytes outside printable ASCII shown as '?'.
 * param may be NULL.
 */
json_t *problem_new(unsigned status, const char *instance, const char *param,
		    const char *request_id, const char *detail);

#endif
