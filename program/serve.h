#ifndef PP_SERVE_H
#define PP_SERVE_H

/* `ppissuer serve [options]`; returns the process exit status. */
int srv_main(int argc, char **argv);

#endif
