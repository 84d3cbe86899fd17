/*
 * services.h - TCP service names by port, from /etc/services (as nmap and
 * netstat name ports). Loaded once by main() before the workers start, so
 * the loop threads only read a table; a missing file means no names.
 */
#ifndef NP_SERVICES_H
#define NP_SERVICES_H

/* Loads path ("/etc/services"); NP_OK also when the file is missing
 * (no names), NP_ENOMEM. Not thread-safe: call before any reader. */
int services_load(const char *path);
/* The first name /etc/services gives the TCP port, or NULL. */
const char *services_tcp_name(unsigned port);
/* Frees the table (tests, and the end of main). */
void services_free(void);

#endif
