/* Internals shared by clients.c and clients_file.c. */
#ifndef PP_CLIENTS_INT_H
#define PP_CLIENTS_INT_H

#include <stdatomic.h>
#include <stddef.h>

#include "issuer/clients.h"

struct cl_registry {
	struct cl_client *clients;
	size_t n, cap;
	char fingerprint[CL_FP_LEN];
	atomic_ulong refs;
};

/* 0 when c's fields are within bounds (name, role, limits, subject). */
int cl_client_check(const struct cl_client *c);

#endif
