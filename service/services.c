/*
 * services.c - the /etc/services TCP names (see services.h). Lines are
 * "name port/proto [aliases] [# comment]"; the first line naming a port
 * wins, as getservbyport() answers.
 */
#include "services.h"
#include "np.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORTS 65536u
#define LINE_MAX_LEN 1024

static char **names; /* PORTS entries, NULL where none */

const char *services_tcp_name(unsigned port)
{
	return names != NULL && port < PORTS ? names[port] : NULL;
}

void services_free(void)
{
	if (names == NULL)
		return;
	for (unsigned i = 0; i < PORTS; i++)
		free(names[i]);
	free(names);
	names = NULL;
}

/* One line: its name for a TCP port, into the table. 0, or NP_ENOMEM. */
static int take_line(char *line)
{
	char *name, *spec, *slash, *end, *save = NULL;
	unsigned long port;

	line[strcspn(line, "#\r\n")] = '\0';
	name = strtok_r(line, " \t", &save);
	spec = name != NULL ? strtok_r(NULL, " \t", &save) : NULL;
	if (spec == NULL || (slash = strchr(spec, '/')) == NULL || strcmp(slash + 1, "tcp") != 0)
		return NP_OK;
	*slash = '\0';
	if (!isdigit((unsigned char)spec[0]))
		return NP_OK;
	port = strtoul(spec, &end, 10);
	if (*end != '\0' || port == 0 || port >= PORTS || names[port] != NULL)
		return NP_OK;
	names[port] = strdup(name);
	return names[port] != NULL ? NP_OK : NP_ENOMEM;
}

int services_load(const char *path)
{
	char line[LINE_MAX_LEN];
	FILE *f;
	int rc = NP_OK;

	services_free();
	f = fopen(path, "r");
	if (f == NULL)
		return NP_OK; /* no file, no names */
	names = calloc(PORTS, sizeof(*names));
	if (names == NULL) {
		fclose(f);
		return NP_ENOMEM;
	}
	while (rc == NP_OK && fgets(line, sizeof(line), f) != NULL)
		rc = take_line(line);
	fclose(f);
	if (rc != NP_OK)
		services_free();
	return rc;
}
