/* sched_int.h: private to src/sched. Name rules shared by the model and the Airflow
 * renderer. */
#ifndef CN_SCHED_INT_H
#define CN_SCHED_INT_H

#include "sched/sched.h"

/* Chronon's helpers.normalize_name: split on '/', drop segments that start with
 * "<time part>=", join with "__", then every char outside [A-Za-z0-9_] becomes "__".
 * In a; NULL when out of memory. */
char *cn_sched__normalize(CnArena *a, const CnSchedSettings *s, const char *name);
/* Shell word for arg: as is when it is plain or a whole Jinja template ("{{ ... }}",
 * rendered by Airflow before the shell sees it), else single-quoted. Appends to b. */
void cn_sched__shell_word(CnBuf *b, const char *arg);

#endif /* CN_SCHED_INT_H */
