/* Counters and histograms for GET /metrics, in the Prometheus text format. */
#ifndef SBX_SANDBOXD_METRICS_H
#define SBX_SANDBOXD_METRICS_H

#include "result.h"

/* Routes are counted by a fixed name so that clients cannot grow the table. */
typedef enum sd_route {
    SD_ROUTE_HEALTH, SD_ROUTE_INFO, SD_ROUTE_LANGUAGES, SD_ROUTE_EXEC, SD_ROUTE_METRICS,
    SD_ROUTE_WORKFLOWS, SD_ROUTE_OTHER, SD_ROUTE_COUNT,
} sd_route;

const char *sd_route_name(sd_route r);
void sd_metrics_request(sd_route route, unsigned http_status);
void sd_metrics_execution(rt_status status, double run_ms, double setup_ms);
/* A workflow that ended with status (succeeded, failed, ...), its cost. */
void sd_metrics_workflow(const char *status, double duration_ms, double usd);
/* A step that ended with status (ok, failed, skipped, cancelled). */
void sd_metrics_step(const char *status, double duration_ms);
/* Workflows queued or running now (read at the time of the scrape). */
void sd_metrics_workflows_active(unsigned n);
/* The whole text; running and queued are read at the time of the scrape. The
 * caller frees it. */
char *sd_metrics_render(unsigned running, unsigned queued, unsigned max_running,
                        unsigned max_queue);

#endif
