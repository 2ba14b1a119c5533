/* slurm.h: the scheduler's Slurm executor. With the setting "slurm" (scheduler.json or
 * teams.json default.scheduler), backfill tasks are submitted with `sbatch --wait`
 * instead of run on the scheduler's machine; the job's exit code becomes the try's and
 * its output is appended to the try's log. Other tasks (uploads, sensors) stay local. */
#ifndef CN_SCHED_SLURM_H
#define CN_SCHED_SLURM_H

#include "base/compat.h"

#include <jansson.h>

#include "base/arena.h"
#include "base/err.h"

typedef struct CnSchedSlurm {
    const char *sbatch;  /* "sbatch" key: the program, default "sbatch" */
    const char **args;   /* "args": extra sbatch options, e.g. "--partition=batch" */
    size_t n_args;
    int ranks;           /* "ranks": > 1 runs the task as `mpirun -np ranks` in an allocation
                          * of --ntasks=ranks (docs/scaling.md); default 1 */
} CnSchedSlurm;

/* Parses the value of setting "slurm" (an object, or null: no Slurm) of file name into
 * *out (in a). CN_ECONFIG naming the file, the key, what was expected and the value. */
int cn_sched_slurm_parse(CnArena *a, const char *name, json_t *v, const CnSchedSlurm **out, CnErr *err);

/* Runs in the try's wrapper process, stdout and stderr being the try's log (log is its
 * path): submits argv as `sbatch --wait` (its output file beside the log), waits for the
 * job, appends the job's output to the log and returns the job's exit code (sbatch's:
 * 1 when the job was killed by a signal). SIGTERM or SIGINT (a task timeout, a stopped
 * scheduler) cancels the job with scancel, then returns 128 + the signal. */
int cn_sched_slurm_run(const CnSchedSlurm *sl, char *const *argv, const char *log);

#endif /* CN_SCHED_SLURM_H */
