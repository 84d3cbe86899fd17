/*
 * loop.h - the event loop each worker thread runs: epoll fd watchers,
 * one-shot re-armable timers, cross-thread wake-ups, and before-sleep hooks.
 *
 * Everything here is loop thread only unless marked thread-safe. Watchers
 * and timers may be freed from inside any callback, their own included:
 * freeing is deferred until the current dispatch round ends.
 */
#ifndef NP_LOOP_H
#define NP_LOOP_H

#include <stdint.h>

struct loop;
struct loop_watch;
struct loop_timer;
struct loop_async;

enum {
	LOOP_READ = 1u,
	LOOP_WRITE = 2u,
	LOOP_ERROR = 4u, /* reported only: EPOLLERR / EPOLLHUP */
	LOOP_PEER_CLOSED = 8u, /* the peer closed its side (EPOLLRDHUP) */
};

/* fd ready; events is a mask of LOOP_READ | LOOP_WRITE | LOOP_ERROR. */
typedef void (*loop_io_cb)(int fd, unsigned events, void *ud);
typedef void (*loop_timer_cb)(void *ud);
typedef void (*loop_async_cb)(void *ud);
typedef void (*loop_hook_cb)(struct loop *l, void *ud);

int loop_new(struct loop **out);
/* Frees the loop; every watcher, timer and async must be freed before. NULL-safe. */
void loop_free(struct loop *l);

/* Runs until loop_stop(). Returns NP_OK or NP_ESYS. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* Cached monotonic time of the current loop iteration, in ms and us. */
uint64_t loop_now_ms(const struct loop *l);
uint64_t loop_now_us(const struct loop *l);

/* Watch fd (borrowed: the caller closes it, after loop_watch_free). */
int loop_watch_new(struct loop *l, int fd, unsigned events, loop_io_cb cb,
		   void *ud, struct loop_watch **out);
/* Changes the event mask; 0 pauses the watcher. */
int loop_watch_set(struct loop_watch *w, unsigned events);
void loop_watch_free(struct loop_watch *w); /* NULL-safe */

/* A timer starts disarmed. Arming an armed timer re-arms it. */
int loop_timer_new(struct loop *l, loop_timer_cb cb, void *ud, struct loop_timer **out);
void loop_timer_arm(struct loop_timer *t, uint64_t after_ms);
void loop_timer_arm_us(struct loop_timer *t, uint64_t after_us);
void loop_timer_disarm(struct loop_timer *t);
int loop_timer_armed(const struct loop_timer *t);
void loop_timer_free(struct loop_timer *t); /* NULL-safe */

/* An async handle: loop_async_send() from any thread makes cb run on the
 * loop thread soon after (several sends may coalesce into one call). */
int loop_async_new(struct loop *l, loop_async_cb cb, void *ud, struct loop_async **out);
void loop_async_send(struct loop_async *a); /* thread-safe */
void loop_async_free(struct loop_async *a); /* NULL-safe */

/*
 * Before-sleep hooks run once per iteration, before waiting: first the one
 * set with loop_set_before_sleep(), then those added with
 * loop_add_before_sleep() in the order they were added. A hook may lower
 * the coming wait with loop_cap_wait().
 */
/* Sets (or, with cb NULL, clears) the hook that runs first; a later call
 * replaces it. */
void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *ud);

#define LOOP_MAX_HOOKS 8
/* Adds a hook after the others. Returns NP_OK, NP_EINVAL (cb NULL) or
 * NP_ELIMIT (LOOP_MAX_HOOKS already added). A hook added from a hook first
 * runs in the next iteration. */
int loop_add_before_sleep(struct loop *l, loop_hook_cb cb, void *ud);
/* Removes the hook added with this cb and ud (nothing if there is none).
 * May be called from any callback, hooks included: a removed hook that has
 * not run yet in this iteration does not run. */
void loop_remove_before_sleep(struct loop *l, loop_hook_cb cb, void *ud);

/* Lowers the next wait to at most ms (call from a before-sleep hook). */
void loop_cap_wait(struct loop *l, uint64_t ms);

#endif
