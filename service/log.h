/*
 * log.h - leveled logging to stderr, one line per event, text or JSON lines.
 * LOG() checks the level before any formatting. Thread-safe (one write(2)
 * per line).
 */
#ifndef NP_LOG_H
#define NP_LOG_H

#include "config.h"

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern int log_current_level;

void log_setup(int level, enum log_format format);
int log_level_parse(const char *s); /* -1 if unknown */
const char *log_level_name(int level);

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes this thread's buffered access-log lines (see log.c). */
void log_flush(void);

/* One access-log line: structured fields, so JSON mode gets real keys.
 * Buffered per thread; log_flush() writes them. */
void log_access(const char *req_id, const char *method, const char *path,
		unsigned status, unsigned long long bytes, double duration_ms,
		const char *peer);

#define LOG(level, ...)                                                       \
	do {                                                                  \
		if ((level) <= log_current_level)                             \
			log_write((level), __VA_ARGS__);                      \
	} while (0)

#endif
