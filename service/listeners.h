/*
 * listeners.h - the demo TCP and UDP listeners (the seed's servers, built
 * in): greeting mode reads what the client sends, answers the greeting and
 * closes; echo mode sends back what arrives. Non-blocking on the worker's
 * loop, with a per-worker connection cap and an idle timeout. Each worker
 * binds its own sockets with SO_REUSEPORT, so the kernel spreads clients.
 *
 * Loop thread only.
 */
#ifndef NP_LISTENERS_H
#define NP_LISTENERS_H

#include <stddef.h>

struct listeners;
struct loop;
struct config;
struct metrics;

/* Binds and starts both listeners; on failure err names the flag at fault. */
int listeners_new(struct loop *l, const struct config *c, struct metrics *m,
		  struct listeners **out, char *err, size_t errlen);
/* Stops accepting; open TCP connections are closed. NULL-safe. */
void listeners_free(struct listeners *ls);

#endif
