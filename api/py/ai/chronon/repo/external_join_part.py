"""A JoinPart standing for an external part's offline GroupBy (named ext_[prefix_]<source>)."""

import ai.chronon.api.ttypes as api


class ExternalJoinPart(api.JoinPart):
    def __init__(self, join_part, full_prefix):
        super().__init__()
        for key, value in join_part.__dict__.items():
            setattr(self, key, value)
        self.external_join_full_prefix = full_prefix
        self._source_join_part = join_part

    @classmethod
    def from_external_part(cls, external_part):
        from ai.chronon.utils import sanitize

        jp = api.JoinPart(groupBy=external_part.source.offlineGroupBy,
                          keyMapping=external_part.keyMapping or None,
                          prefix=external_part.prefix or None)
        parts = ["ext", external_part.prefix, sanitize(external_part.source.metadata.name)]
        return cls(jp, full_prefix="_".join(p for p in parts if p is not None))
