/* sandboxd/admission.c: slots, a bounded FIFO queue, an answer at once when full. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "tap.h"

static sd_admission *adm;
static atomic_int order[8], next_pos, admitted, refused;

struct waiter {
    int n;
    sd_admit res;
};

static void *wait_turn(void *arg)
{
    struct waiter *w = arg;
    double q;
    w->res = sd_admission_enter(adm, &q);
    if (w->res == SD_ADMIT_OK) {
        order[atomic_fetch_add(&next_pos, 1)] = w->n;
        atomic_fetch_add(&admitted, 1);
        sd_admission_leave(adm);
    } else {
        atomic_fetch_add(&refused, 1);
    }
    return NULL;
}

static void wait_queued(unsigned want)
{
    unsigned running, queued;
    for (int i = 0; i < 2000; i++) {
        sd_admission_counts(adm, &running, &queued);
        if (queued == want)
            return;
        usleep(1000);
    }
}

int main(void)
{
    tap_plan(11);
    adm = sd_admission_new(1, 2);
    double q;
    is_int(sd_admission_enter(adm, &q), SD_ADMIT_OK, "a free slot is taken at once");

    pthread_t t[3];
    struct waiter w[3] = {{.n = 0}, {.n = 1}, {.n = 2}};
    pthread_create(&t[0], NULL, wait_turn, &w[0]);
    wait_queued(1);
    pthread_create(&t[1], NULL, wait_turn, &w[1]);
    wait_queued(2);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    is_int(sd_admission_enter(adm, &q), SD_ADMIT_FULL, "a full queue refuses");
    clock_gettime(CLOCK_MONOTONIC, &b);
    ok((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 50,
       "and answers at once");
    unsigned running, queued;
    sd_admission_counts(adm, &running, &queued);
    ok(running == 1 && queued == 2, "counts: 1 running, 2 queued");
    sd_admission_leave(adm);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    is_int(atomic_load(&admitted), 2, "both waiters got their turn");
    ok(order[0] == 0 && order[1] == 1, "in the order they came");
    ok(sd_admission_drain(adm, 100), "drained when idle");

    is_int(sd_admission_enter(adm, &q), SD_ADMIT_OK, "slot taken again");
    pthread_create(&t[2], NULL, wait_turn, &w[2]);
    wait_queued(1);
    sd_admission_close(adm);
    pthread_join(t[2], NULL);
    is_int(w[2].res, SD_ADMIT_CLOSED, "closing refuses the waiter");
    ok(!sd_admission_drain(adm, 20), "drain times out while a slot is held");
    sd_admission_leave(adm);
    is_int(sd_admission_enter(adm, &q), SD_ADMIT_CLOSED, "closed: new requests refused");
    sd_admission_free(adm);
    return tap_done();
}
