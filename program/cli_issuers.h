/* `ppissuer issuers`, and the --issuer option of `keys` and `clients`. */
#ifndef PP_CLI_ISSUERS_H
#define PP_CLI_ISSUERS_H

#include <stddef.h>

/* `ppissuer issuers list [server options]`; returns the exit status. */
int cli_issuers_main(int argc, char **argv);

/* The data directory of issuer name under data_dir (*out malloc'd):
 * PP_ERR_CONFIG with err saying what to do when the name is not valid or
 * the issuer has no directory yet (a typo must not start a store nobody
 * serves). */
int cli_issuer_dir(const char *data_dir, const char *name, char **out,
		   char *err, size_t errlen);

#endif
