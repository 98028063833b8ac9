/* ppissuer: entry point and subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "program/cli_clients.h"
#include "program/cli_issuers.h"
#include "program/cli_keys.h"
#include "program/gate.h"
#include "program/serve.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ppissuer <command> [options]\n"
		"\n"
		"commands:\n"
		"  serve      run the issuer HTTP service\n"
		"  keys       manage issuer keys (generate, list, rotate, ...)\n"
		"  clients    manage attesters and origins\n"
		"  issuers    list the issuers of the configuration\n"
		"  gate       run the forward-auth gate for an origin\n"
		"  version    print the version\n"
		"\n"
		"Run 'ppissuer <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("ppissuer %s\n", PP_VERSION);
		return 0;
	}
	/* Each subcommand parses its own options; argv[0] becomes its name. */
	if (!strcmp(argv[1], "serve"))
		return srv_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "keys"))
		return cli_keys_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "clients"))
		return cli_clients_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "issuers"))
		return cli_issuers_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "gate"))
		return gate_main(argc - 1, argv + 1);
	fprintf(stderr, "ppissuer: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
