/*
 * log.c - leveled lines on stderr, as text or JSON objects. Each line is
 * formatted into one buffer and written with one write(2), so lines from
 * different workers never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

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
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return n;
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
				      "\",\"status\":%u,\"bytes\":%llu,\"duration_ms\":%.3f,"
				      "\"peer\":\"%s\"}",
				      status, bytes, duration_ms, peer);
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
		n = (size_t)snprintf(line, sizeof(line), "%s info  access %s %s %s %u %llu %.3fms %s",
				     ts, req_id, method, safe, status, bytes, duration_ms, peer);
	}
	emit(line, n, sizeof(line));
}
