#!/bin/sh
# Layering rules (see DESIGN.md) and static checks.
set -u
fail=0
bad() { echo "lint: $*" >&2; fail=1; }

# crypto/ is pure: no HTTP, JSON, files-of-the-project or upper layers.
if grep -nE '#include *[<"](microhttpd|jansson|hiredis|lmdb|curl/)' crypto/*.[ch]; then
	bad "crypto/ must not include libmicrohttpd, jansson, hiredis, lmdb or curl headers"
fi
if grep -nE '#include *"(keys|issuer|api)/' crypto/*.[ch]; then
	bad "crypto/ must not include upper layers"
fi
if grep -nE '\b(fopen|open|socket|getenv)\s*\(' crypto/*.c; then
	bad "crypto/ must not touch files, sockets or the environment"
fi
# keys/ knows no HTTP and no service.
if grep -nE '#include *[<"](microhttpd|hiredis|curl/)|#include *"(issuer|api)/' keys/*.[ch]; then
	bad "keys/ must not include HTTP, Redis or upper layers"
fi
# api/ never touches OpenSSL; issuer service files never include api/.
if grep -nE '#include *<openssl/' api/*.[ch]; then
	bad "api/ must not include OpenSSL headers"
fi
if grep -lE '#include *"api/' issuer/*.[ch] | grep -vE 'issuer/(main|serve)\.c$'; then
	bad "only issuer/main.c and issuer/serve.c may include api/ headers"
fi
# No names defined in other libraries' spaces.
if grep -nE '^(static +)?(const +)?(struct +)?[a-z_0-9]+( +\**|\s*\*+)(crypto|sodium|json|MHD|EVP|BN|RSA|OSSL|OPENSSL)_[A-Za-z0-9_]*\(' \
	crypto/*.c keys/*.c issuer/*.c api/*.c 2>/dev/null; then
	bad "do not define functions in other libraries' name spaces"
fi
# No VLAs or alloca.
if grep -nE '\balloca\s*\(' crypto/*.c keys/*.c issuer/*.c api/*.c; then
	bad "alloca is not allowed"
fi

if command -v cppcheck >/dev/null 2>&1; then
	cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,portability --suppress=missingIncludeSystem \
		-I. crypto keys issuer api || bad "cppcheck reported problems"
fi
if [ -f Dockerfile ] && [ -x tests/interop/node_modules/.bin/dockerfilelint ]; then
	tests/interop/node_modules/.bin/dockerfilelint Dockerfile || bad "dockerfilelint"
fi
[ $fail = 0 ] && echo "lint: ok"
exit $fail
