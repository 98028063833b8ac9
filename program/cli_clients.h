/* `ppissuer clients ...`: register, list, change and revoke attesters,
 * origins and monitors in <data-dir>/clients.json. A running server picks
 * changes up on its next reload tick or on SIGHUP. */
#ifndef PP_CLI_CLIENTS_H
#define PP_CLI_CLIENTS_H

/* argv[0] is "clients". Returns the process exit status: 0 done, 1 failed,
 * 2 usage error. */
int cli_clients_main(int argc, char **argv);

#endif
