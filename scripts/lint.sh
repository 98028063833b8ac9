#!/bin/sh
# Layering rules (see DESIGN.md) and static checks.
set -u
fail=0
bad() { echo "lint: $*" >&2; fail=1; }

# The rooms (see README, Architecture), dependencies pointing down only:
#   program/ -> api/ -> issuer/ -> keys/ -> crypto/ -> base/
# with no exception: program/ is the only code that knows every room.
inc() { grep -nE "#include *\"($1)/" $2 2>/dev/null; }

# base/ is the bottom: libc only.
if inc 'crypto|keys|issuer|api|program' "base/*.[ch]"; then
	bad "base/ must not include other rooms"
fi
# crypto/ is pure: no HTTP, JSON, files, sockets or upper layers.
if grep -nE '#include *[<"](microhttpd|jansson|hiredis|lmdb|curl/)' crypto/*.[ch]; then
	bad "crypto/ must not include libmicrohttpd, jansson, hiredis, lmdb or curl headers"
fi
if inc 'keys|issuer|api|program' "crypto/*.[ch]"; then
	bad "crypto/ must not include upper layers"
fi
if grep -nE '\b(fopen|open|socket|getenv)\s*\(' crypto/*.c; then
	bad "crypto/ must not touch files, sockets or the environment"
fi
# keys/ knows no HTTP and no service.
if grep -nE '#include *[<"](microhttpd|hiredis|curl/)' keys/*.[ch] || inc 'issuer|api|program' "keys/*.[ch]"; then
	bad "keys/ must not include HTTP, Redis or upper layers"
fi
# issuer/ holds the services: never the HTTP layer or the program.
if inc 'api|program' "issuer/*.[ch]"; then
	bad "issuer/ must not include api/ or program/ headers"
fi
# api/ is a thin HTTP translation: no key, no snapshot, no crypto.
if grep -nE '#include *<openssl/' api/*.[ch] || inc 'keys|crypto|program' "api/*.[ch]"; then
	bad "api/ must not include OpenSSL, keys/, crypto/ or program/ headers"
fi
# No names defined in other libraries' spaces.
if grep -nE '^(static +)?(const +)?(struct +)?[a-z_0-9]+( +\**|\s*\*+)(crypto|sodium|json|MHD|EVP|BN|RSA|OSSL|OPENSSL)_[A-Za-z0-9_]*\(' \
	base/*.c crypto/*.c keys/*.c issuer/*.c api/*.c program/*.c 2>/dev/null; then
	bad "do not define functions in other libraries' name spaces"
fi
# No VLAs or alloca.
if grep -nE '\balloca\s*\(' base/*.c crypto/*.c keys/*.c issuer/*.c api/*.c program/*.c; then
	bad "alloca is not allowed"
fi

if command -v cppcheck >/dev/null 2>&1; then
	cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,portability --suppress=missingIncludeSystem \
		-I. base crypto keys issuer api program || bad "cppcheck reported problems"
fi
if [ -f Dockerfile ] && [ -x tests/interop/node_modules/.bin/dockerfilelint ]; then
	tests/interop/node_modules/.bin/dockerfilelint Dockerfile || bad "dockerfilelint"
fi
[ $fail = 0 ] && echo "lint: ok"
exit $fail
