/* Tests the runtime's base64 (spec_json.h) against RFC 4648's vectors and malformed input. */
#include <stdlib.h>
#include <string.h>

#include "spec_json.h"
#include "tap.h"

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

static int decodes_to(const char *s, const char *want, size_t want_len)
{
    char out[64];
    size_t n = 0;
    return rt_base64_decode(s, strlen(s), out, &n) == 0 && n == want_len &&
           memcmp(out, want, n) == 0;
}

static int refused(const char *s)
{
    char out[64];
    size_t n;
    return rt_base64_decode(s, strlen(s), out, &n) < 0;
}

int main(void)
{
    tap_plan(22);
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char *e = rt_base64_encode(plain[i], strlen(plain[i]));
        is_str(e, coded[i], "encode");
        free(e);
        ok(decodes_to(coded[i], plain[i], strlen(plain[i])), "decode \"%s\"", coded[i]);
    }
    char *e = rt_base64_encode("\0\xff\xfe", 3);
    is_str(e, "AP/+", "binary bytes");
    free(e);
    ok(decodes_to("AP/+", "\0\xff\xfe", 3), "and back");
    ok(refused("Zm9"), "a length not a multiple of 4 is refused");
    ok(refused("Zm=v"), "padding inside a group is refused");
    ok(refused("Zg==Zg=="), "padding before the end is refused");
    ok(refused("Zm9*"), "a character outside the alphabet is refused");
    ok(refused("Z==="), "three padding characters are refused");
    ok(refused("Zm 9"), "whitespace is refused");
    return tap_done();
}
