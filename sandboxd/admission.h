/* Admission control: at most max_running sandboxes at once, a bounded FIFO queue
 * behind them, and an answer at once (not a hang) when the queue is full. */
#ifndef SBX_SANDBOXD_ADMISSION_H
#define SBX_SANDBOXD_ADMISSION_H

#include <stdatomic.h>
#include <stdbool.h>

typedef struct sd_admission sd_admission;

typedef enum sd_admit {
    SD_ADMIT_OK,               /* a slot is held: call sd_admission_leave */
    SD_ADMIT_FULL,             /* queue full: answer 429 */
    SD_ADMIT_CLOSED,           /* shutting down: answer 503 */
} sd_admit;

sd_admission *sd_admission_new(unsigned max_running, unsigned max_queue);
void sd_admission_free(sd_admission *a);
/* New limits (SIGHUP); waiting requests keep their place. */
void sd_admission_resize(sd_admission *a, unsigned max_running, unsigned max_queue);
/* Waits in line for a slot; *queued_ms is the time spent waiting. */
sd_admit sd_admission_enter(sd_admission *a, double *queued_ms);
/* The workflow engine's attempts: they wait whatever the queue's length (the
 * engine bounds how many there are) and give up when *stop becomes non-zero
 * (SD_ADMIT_CLOSED). */
sd_admit sd_admission_enter_until(sd_admission *a, const atomic_int *stop, double *queued_ms);
void sd_admission_leave(sd_admission *a);
/* Refuses new and waiting requests from now on. */
void sd_admission_close(sd_admission *a);
/* Waits until no slot is held or timeout_ms passes; true when none is held. */
bool sd_admission_drain(sd_admission *a, long timeout_ms);
void sd_admission_counts(sd_admission *a, unsigned *running, unsigned *queued);

#endif
