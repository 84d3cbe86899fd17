/*
 * portlist.h - port lists as people write them for scans: "22,80,8000-8100"
 * (ports 1 to 65535, ranges a-b with a <= b), into a set of ports.
 */
#ifndef NP_PORTLIST_H
#define NP_PORTLIST_H

#include <stddef.h>

/* A set of ports: bit p of the 65536 bits is port p (bit 0 never set). */
#define PORTLIST_SET_BYTES (65536u / 8u)

/* Adds one item, "p" or "a-b" (len bytes, no comma), to set; 0, or -1 when
 * it is not a port or a range (set may then hold part of nothing: callers
 * refuse the whole list). */
int portlist_add_item(const char *s, size_t len, unsigned char *set);
/* Adds a comma-separated list (NUL-terminated); 0, or -1. */
int portlist_add_list(const char *s, unsigned char *set);
/* Whether port p is in set, and how many ports set holds. */
int portlist_has(const unsigned char *set, unsigned p);
size_t portlist_count(const unsigned char *set);

#endif
