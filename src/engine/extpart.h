/* extpart.h: onlineExternalParts whose ExternalSource has an offlineGroupBy, in the Join
 * backfill. Chronon (Extensions.scala JoinOps.getRegularAndExternalJoinParts) turns each
 * into a join part after the regular ones: groupBy = the offlineGroupBy, keyMapping and
 * prefix = the external part's; its columns are named with the external part's full prefix,
 * ext_[<prefix>_]<sanitize(source name)>_<GroupBy column>, and the external part is no longer
 * padded with null value fields (BootstrapInfo keeps only online-only external parts). The
 * accuracy is the offlineGroupBy's own. */
#ifndef CN_ENG_EXTPART_H
#define CN_ENG_EXTPART_H

#include "engine/eng_int.h"

/* *out = j when j has no such part, else a copy of j in arena a whose parts are j's parts
 * followed by one part per offline-capable external part, in order, and whose externals are
 * the online-only ones. A synthetic part's GroupBy is a shallow copy of the offlineGroupBy
 * named after the source, so that the part's full prefix (cn_conf_join_part_prefix) is the
 * external one. CN_ECONFIG names the part when the source has no name or the GroupBy no key
 * columns. BORROWED: everything *out points to lives as long as j and a. */
int cn_eng__extpart_expand(const CnJoin *j, CnArena *a, const CnJoin **out, CnErr *err);

#endif /* CN_ENG_EXTPART_H */
