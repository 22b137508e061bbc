from arseg.data.corpus.table import read_clips
from arseg.data.events import read_events
from arseg.data.queries import make_queries, write_queries
from arseg.rule_io import logged

with logged(snakemake):
    table = make_queries(read_events(snakemake.input.events), read_clips(snakemake.input.clips),
                         snakemake.params.clips_of, snakemake.params.negatives, snakemake.params.seed,
                         examples=snakemake.params.examples, first=snakemake.params.first)
    write_queries(snakemake.output.queries, table)
    print(table.groupby(["kind", "positive"]).size())
