/* Privacy Pass Extensions (draft-ietf-privacypass-auth-scheme-extensions-03),
 * the expiration extension (draft-ietf-privacypass-expiration-extension-00)
 * and the wire structures of token type 0xDA7A
 * (draft-ietf-privacypass-public-metadata-issuance / hendrickson-03).
 *
 *   struct { uint16 extension_type; opaque extension_data<0..2^16-1>; } Extension;
 *   struct { Extension extensions<0..2^16-1>; } Extensions;
 *
 * The serialized Extensions, its 2-byte length included, is the `info` of
 * the partially blind RSA signature (pbrsa.h) over the token input.
 *
 * Decoders return views into the input (no copies, nothing to free; the
 * views live as long as the input), clear *out on entry, and reject trailing
 * bytes. The order rule: the draft says the list "MUST be ordered by
 * ExtensionType" and types "MAY be repeated". This module fails closed on a
 * repeat by default: entries must be in strictly increasing type order, so
 * that a lookup by type has one answer (two expirations would be two
 * policies). EXT_ALLOW_REPEATS accepts the draft's non-decreasing order. */
#ifndef PP_EXT_H
#define PP_EXT_H

#include <stddef.h>
#include <stdint.h>

#define EXT_TYPE_EXPIRATION 0x0001
#define EXT_MAX_ENTRIES 32          /* more entries than this: PP_ERR_LENGTH */
#define EXT_MAX_LEN (2 + 65535)     /* the largest encodable Extensions */
#define EXT_EXPIRATION_LEN 16

/* flags of ext_decode and ext_encode */
#define EXT_ALLOW_REPEATS 0x1u      /* non-decreasing order, as the draft */

struct ext_entry {
	uint16_t type;
	uint16_t len;
	const uint8_t *data; /* len bytes (NULL when len is 0 on decode) */
};

struct ext_list {
	size_t count;
	struct ext_entry entries[EXT_MAX_ENTRIES];
};

/* Decodes an Extensions structure occupying all of in[0..len):
 * PP_ERR_TRUNCATED (input ends inside the length prefix, an entry header or
 * the data the list length announces), PP_ERR_LENGTH (an entry overruns the
 * list length, or more than EXT_MAX_ENTRIES entries), PP_ERR_TRAILING
 * (bytes after the list), PP_ERR_CORRUPT (types out of order or repeated;
 * see the order rule above; pp_err.h has no closer code), PP_ERR_ARG (a NULL
 * argument). *out is zeroed on error. */
int ext_decode(const uint8_t *in, size_t len, unsigned flags,
	       struct ext_list *out);

/* Encodes entries under the same rules (PP_ERR_ARG for an order breach,
 * PP_ERR_LENGTH when the list would pass 65535 bytes, PP_ERR_BUFFER when
 * out_cap is short). *out_len gets the encoded length. */
int ext_encode(const struct ext_entry *entries, size_t count, unsigned flags,
	       uint8_t *out, size_t out_cap, size_t *out_len);

/* The entry of a type: 0, or PP_ERR_NOT_FOUND (*out NULL). With repeats,
 * the first one. */
int ext_find(const struct ext_list *l, uint16_t type,
	     const struct ext_entry **out);

/* struct { uint64 timestamp_precision; uint64 timestamp; }
 * ExpirationTimestamp, both network byte order, timestamp in UNIX seconds. */
struct ext_expiration {
	uint64_t precision; /* seconds the timestamp is rounded to, > 0 */
	uint64_t timestamp;
};

/* Writes the 16 bytes. PP_ERR_ARG when precision is 0 or timestamp is not a
 * multiple of it (fails closed: the draft rounds timestamps to the precision
 * so that clients share values; an unrounded one singles a client out). */
int ext_expiration_encode(const struct ext_expiration *e,
			  uint8_t out[EXT_EXPIRATION_LEN]);
/* Reads them back: PP_ERR_LENGTH unless len == 16, PP_ERR_CORRUPT for a
 * value the encoder refuses. *out is zeroed on error. */
int ext_expiration_decode(const uint8_t *data, size_t len,
			  struct ext_expiration *out);

/* Whether a token's (verified) Extensions still hold at now: 0 (no
 * expiration, or one after now), PP_ERR_STATE (its expiration is at or
 * before now), or PP_ERR_CORRUPT (Extensions or an expiration that do not
 * decode: none this issuer signs). Shared by redemption and the gate. */
int ext_check_expiry(const uint8_t *in, size_t len, int64_t now);

/* ---- token type 0xDA7A ---- */
#define EXT_TOKEN_TYPE_PBRSA 0xDA7A
#define EXT_NK 256
#define EXT_TOKEN_INPUT_LEN 98               /* type || nonce || digest || key id */
#define EXT_TOKEN_LEN (EXT_TOKEN_INPUT_LEN + EXT_NK) /* 354 */
#define EXT_REQUEST_LEN (2 + 1 + EXT_NK)     /* the TokenRequest part: 259 */

/* struct { TokenRequest request; Extensions extensions; } ExtendedTokenRequest */
struct ext_token_request {
	uint16_t token_type;
	uint8_t truncated_key_id;
	const uint8_t *blinded_msg; /* 256 */
	const uint8_t *extensions;  /* the serialized Extensions: the info */
	size_t extensions_len;
	struct ext_list ext;        /* its entries */
};

/* PP_ERR_TRUNCATED (< 2 bytes, or fewer than 259 + 2), PP_ERR_TOKEN_TYPE
 * (not 0xDA7A), then what ext_decode returns for the Extensions part
 * (PP_ERR_TRAILING for bytes after it). *out is zeroed on error. */
int ext_token_request_decode(const uint8_t *in, size_t len, unsigned flags,
			     struct ext_token_request *out);
/* Writes token_type || truncated_key_id || blinded_msg || extensions. */
int ext_token_request_encode(uint8_t truncated_key_id,
			     const uint8_t blinded_msg[EXT_NK],
			     const uint8_t *extensions, size_t extensions_len,
			     uint8_t *out, size_t out_cap, size_t *out_len);

/* struct Token for 0xDA7A: the type-2 layout with type 0xDA7A. The
 * authenticator is a signature over input (the first 98 bytes) with the
 * serialized Extensions as info. */
struct ext_token {
	const uint8_t *nonce;            /* 32 */
	const uint8_t *challenge_digest; /* 32 */
	const uint8_t *token_key_id;     /* 32 */
	const uint8_t *authenticator;    /* 256 */
	const uint8_t *input;            /* 98 */
};

/* PP_ERR_TRUNCATED (< 2 bytes), PP_ERR_TOKEN_TYPE (not 0xDA7A),
 * PP_ERR_LENGTH (not 354 bytes). *out is zeroed on error. */
int ext_token_decode(const uint8_t *in, size_t len, struct ext_token *out);

#endif
