/*
 * log.c - leveled lines on stderr, as text or JSON objects. Each line is
 * formatted into one buffer and written with one write(2), so lines from
 * different workers never interleave.
 *
 * Access-log lines are the hot path (one per request): each thread gathers
 * them in its own buffer of at most ACCESS_BUF bytes (below PIPE_BUF, so a
 * flush stays one atomic write to a pipe) and flushes it when full, before
 * any other line of that thread, from the worker loop's before-sleep hook
 * (log_flush), and when the thread exits. A line is late by at most one
 * loop iteration.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

#define ACCESS_BUF 4096

static __thread char access_buf[ACCESS_BUF];
static __thread size_t access_len;
static __thread int access_registered;
/* The formatted second, cached: strftime per line is measurable. */
static __thread time_t cached_sec = -1;
static __thread char cached_text[32];
static pthread_key_t flush_key;
static pthread_once_t flush_once = PTHREAD_ONCE_INIT;

void log_flush(void)
{
	size_t off = 0;

	while (off < access_len) {
		ssize_t w = write(STDERR_FILENO, access_buf + off, access_len - off);

		if (w <= 0)
			break; /* stderr gone: drop, never block or spin */
		off += (size_t)w;
	}
	access_len = 0;
}

/* Thread-exit destructor: runs before the thread's __thread data goes. */
static void flush_at_exit(void *unused)
{
	(void)unused;
	log_flush();
}

static void make_flush_key(void)
{
	pthread_key_create(&flush_key, flush_at_exit);
}

void log_setup(int level, enum log_format format)
{
	log_current_level = level;
	current_format = format;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0)
			return i;
	}
	return -1;
}

const char *log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

static size_t timestamp(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != cached_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(cached_text, sizeof(cached_text), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = ts.tv_sec;
	}
	return (size_t)snprintf(buf, len, "%.24s.%03uZ", cached_text, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

/* Appends s as JSON string content (no quotes) into buf at *pos. */
static void json_escape(char *buf, size_t cap, size_t *pos, const char *s)
{
	for (; *s != '\0' && *pos + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			buf[(*pos)++] = '\\';
			buf[(*pos)++] = (char)ch;
		} else if (ch < 0x20) {
			*pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", ch);
		} else {
			buf[(*pos)++] = (char)ch;
		}
	}
}

static void emit(char *line, size_t n, size_t cap)
{
	if (n >= cap - 1)
		n = cap - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

void log_write(int level, const char *fmt, ...)
{
	char msg[2048];
	char line[4608];
	char ts[40];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_flush(); /* keep this thread's lines in order */
	timestamp(ts, sizeof(ts));
	if (current_format == LOG_FORMAT_JSON) {
		n = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"",
				     ts, log_level_name(level));
		json_escape(line, sizeof(line), &n, msg);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}");
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%s %-5s %s", ts, log_level_name(level),
				     msg);
	}
	emit(line, n, sizeof(line));
}

void log_access(const char *req_id, const char *method, const char *path, unsigned status,
		unsigned long long bytes, double duration_ms, const char *peer)
{
	char line[2048];
	char ts[40];
	size_t n;
	/* Integer microseconds: %.3f is slow and this runs per request. */
	unsigned long long us = (unsigned long long)(duration_ms * 1000.0 + 0.5);

	if (!access_registered) {
		pthread_once(&flush_once, make_flush_key);
		pthread_setspecific(flush_key, access_buf);
		access_registered = 1;
	}
	timestamp(ts, sizeof(ts));
	if (current_format == LOG_FORMAT_JSON) {
		n = (size_t)snprintf(line, sizeof(line),
				     "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"access\","
				     "\"request_id\":\"",
				     ts);
		json_escape(line, sizeof(line), &n, req_id);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"method\":\"");
		json_escape(line, sizeof(line), &n, method);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"path\":\"");
		json_escape(line, sizeof(line), &n, path);
		n += (size_t)snprintf(line + n, sizeof(line) - n,
				      "\",\"status\":%u,\"bytes\":%llu,\"duration_ms\":%llu.%03llu,"
				      "\"peer\":\"%s\"}",
				      status, bytes, us / 1000u, us % 1000u, peer);
	} else {
		/* Paths are logged raw only if printable; the request id is ours. */
		char safe[512];
		size_t k = 0;

		for (const char *p = path; *p && k + 4 < sizeof(safe); p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch < 0x21 || ch > 0x7e)
				k += (size_t)snprintf(safe + k, sizeof(safe) - k, "%%%02X", ch);
			else
				safe[k++] = (char)ch;
		}
		safe[k] = '\0';
		n = (size_t)snprintf(line, sizeof(line),
				     "%s info  access %s %s %s %u %llu %llu.%03llums %s", ts, req_id,
				     method, safe, status, bytes, us / 1000u, us % 1000u, peer);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (access_len + n > ACCESS_BUF)
		log_flush();
	memcpy(access_buf + access_len, line, n); /* n < sizeof(line) < ACCESS_BUF */
	access_len += n;
}
