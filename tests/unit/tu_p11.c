#include "tu_p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tu_keys.h"

static const char *const modules[] = {
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
};

int tu_p11_init(struct tu_p11 *t)
{
	char cmd[900], *d;
	FILE *f;
	size_t i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < sizeof(modules) / sizeof(modules[0]); i++)
		if (access(modules[i], R_OK) == 0)
			snprintf(t->module, sizeof(t->module), "%s", modules[i]);
	if (t->module[0] == '\0' || system("command -v softhsm2-util >/dev/null") != 0)
		return -1;
	d = tu_keys_tmpdir();
	snprintf(t->dir, sizeof(t->dir), "%s", d);
	free(d);
	snprintf(cmd, sizeof(cmd), "%s/tokens", t->dir);
	mkdir(cmd, 0700);
	snprintf(t->conf, sizeof(t->conf), "%s/softhsm2.conf", t->dir);
	f = fopen(t->conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		"log.level = ERROR\n", t->dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", t->conf, 1);
	snprintf(t->pin_file, sizeof(t->pin_file), "%s/pin", t->dir);
	f = fopen(t->pin_file, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%s\n", TU_P11_PIN);
	fclose(f);
	chmod(t->pin_file, 0600);
	snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free --label %s "
		 "--pin %s --so-pin 5678 >/dev/null", TU_P11_TOKEN, TU_P11_PIN);
	return system(cmd) == 0 ? 0 : -1;
}

void tu_p11_cleanup(struct tu_p11 *t)
{
	if (t->dir[0]) {
		char *d = strdup(t->dir);

		tu_keys_rmrf(d);
	}
	t->dir[0] = '\0';
}
