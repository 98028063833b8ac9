/* `ppissuer keys ...`: the operator's interface to the key store. */
#ifndef PP_CLI_KEYS_H
#define PP_CLI_KEYS_H

/* argv[0] is "keys", argv[1] the subcommand (generate, list, rotate,
 * retire, prune, export, import, seal). Prints what it did on stdout and
 * problems on stderr. Returns the process exit status: 0 done, 1 failed
 * (the message says what to do), 2 usage error. */
int cli_keys_main(int argc, char **argv);

#endif
