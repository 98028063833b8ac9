/* `ppissuer gate`: the forward-auth service for an origin (issue 19). */
#ifndef PP_PROGRAM_GATE_H
#define PP_PROGRAM_GATE_H

int gate_main(int argc, char **argv);

#endif
