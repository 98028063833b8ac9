/* A PKCS#11 module for fault tests: forwards every call to the module named
 * by PP_P11SHIM_REAL (SoftHSM2), except that while the file named by
 * PP_P11SHIM_FAULT exists, the calls a signer makes answer
 * CKR_DEVICE_REMOVED, as a pulled token or a broken HSM link does.
 * Built by tests/integration/test_pkcs11.c with cc -shared. */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real_fl, shim_fl;
static CK_FUNCTION_LIST_PTR real;

static int faulty(void)
{
	const char *f = getenv("PP_P11SHIM_FAULT");

	return f && access(f, F_OK) == 0;
}

static CK_RV s_sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l,
		    CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	return faulty() ? CKR_DEVICE_REMOVED : real->C_Sign(h, d, l, o, ol);
}

static CK_RV s_sign_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
			 CK_OBJECT_HANDLE k)
{
	return faulty() ? CKR_DEVICE_REMOVED : real->C_SignInit(h, m, k);
}

static CK_RV s_session_info(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i)
{
	return faulty() ? CKR_DEVICE_REMOVED : real->C_GetSessionInfo(h, i);
}

static CK_RV s_open(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n,
		    CK_SESSION_HANDLE_PTR h)
{
	return faulty() ? CKR_TOKEN_NOT_PRESENT : real->C_OpenSession(s, f, a, n, h);
}

static CK_RV s_slots(CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n)
{
	if (faulty()) {
		*n = 0;
		return CKR_OK;
	}
	return real->C_GetSlotList(p, l, n);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	CK_C_GetFunctionList gfl;
	void *dl;

	if (real == NULL) {
		dl = dlopen(getenv("PP_P11SHIM_REAL"), RTLD_NOW | RTLD_LOCAL);
		if (dl == NULL)
			return CKR_GENERAL_ERROR;
		*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
		if (gfl == NULL || gfl(&real) != CKR_OK)
			return CKR_GENERAL_ERROR;
		real_fl = *real;
		shim_fl = real_fl;
		shim_fl.C_Sign = s_sign;
		shim_fl.C_SignInit = s_sign_init;
		shim_fl.C_GetSessionInfo = s_session_info;
		shim_fl.C_OpenSession = s_open;
		shim_fl.C_GetSlotList = s_slots;
	}
	*out = &shim_fl;
	return CKR_OK;
}
