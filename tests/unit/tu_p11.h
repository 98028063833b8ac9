/* A SoftHSM2 token in a temporary directory for PKCS#11 tests (unit and
 * integration): SOFTHSM2_CONF points at it, the token is labelled
 * TU_P11_TOKEN, its user PIN TU_P11_PIN is in <dir>/pin (mode 0600). */
#ifndef PP_TU_P11_H
#define PP_TU_P11_H

#define TU_P11_TOKEN "pp-test"
#define TU_P11_PIN "1234"

struct tu_p11 {
	char dir[256];
	char conf[300];
	char pin_file[300];
	char module[256];
};

/* 0 and a fresh token, or -1 when SoftHSM2 is not installed (the test
 * then skips with a message saying so). Sets SOFTHSM2_CONF. */
int tu_p11_init(struct tu_p11 *t);
void tu_p11_cleanup(struct tu_p11 *t);

#endif
