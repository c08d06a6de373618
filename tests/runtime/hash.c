/* Tests of runtime/hash.c: names that differ when their input does. */
#include "hash.h"
#include "tap.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void name_of(const char *const *pieces, size_t n, char out[33])
{
    rt_hash h;
    rt_hash_init(&h);
    for (size_t i = 0; i < n; i++)
        rt_hash_update(&h, pieces[i], pieces[i] ? strlen(pieces[i]) : 0);
    rt_hash_hex(&h, out);
}

static bool all_hex(const char *s)
{
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s))
            return false;
    return true;
}

int main(void)
{
    tap_plan(8);
    char a[33], b[33];
    const char *one[] = {"passwd", "root:x:0:0"};
    name_of(one, 2, a);
    name_of(one, 2, b);
    is_str(a, b, "the same pieces give the same name");
    ok(strlen(a) == 32 && all_hex(a), "32 hex digits (%s)", a);

    const char *moved[] = {"passwdr", "oot:x:0:0"};
    name_of(moved, 2, b);
    ok(strcmp(a, b) != 0, "moving a boundary changes the name");

    const char *empty[] = {"passwd", NULL, "root:x:0:0"};
    name_of(empty, 3, b);
    ok(strcmp(a, b) != 0, "an empty piece counts (and may have no data)");

    /* a change in the last, partial word and in a full word in the middle */
    char text[100];
    memset(text, 'x', sizeof text);
    const char *t1[] = {text};
    text[99] = '\0';
    name_of(t1, 1, a);
    text[98] = 'y';
    name_of(t1, 1, b);
    ok(strcmp(a, b) != 0, "one byte of the tail changes the name");
    text[98] = 'x';
    text[40] = 'y';
    name_of(t1, 1, b);
    ok(strcmp(a, b) != 0, "one byte in the middle changes the name");

    /* every single-bit change of a word reaches both halves of the name */
    int both = 0;
    uint64_t w = 0x0123456789abcdefull;
    for (int bit = 0; bit < 64; bit++) {
        rt_hash h1, h2;
        uint64_t v = w ^ (1ull << bit);
        rt_hash_init(&h1);
        rt_hash_init(&h2);
        rt_hash_update(&h1, &w, sizeof w);
        rt_hash_update(&h2, &v, sizeof v);
        rt_hash_hex(&h1, a);
        rt_hash_hex(&h2, b);
        both += strncmp(a, b, 16) != 0 && strcmp(a + 16, b + 16) != 0;
    }
    is_int(both, 64, "a flipped bit changes both halves");

    rt_hash h;
    char first[17];
    rt_hash_init(&h);
    rt_hash_update(&h, "wf_0123", 7);
    rt_hash_hex(&h, a);
    snprintf(first, sizeof first, "%016llx", (unsigned long long)rt_hash_u64(&h));
    ok(strncmp(a, first, 16) == 0, "rt_hash_u64 is the name's first half (%s)", first);
    return tap_done();
}
