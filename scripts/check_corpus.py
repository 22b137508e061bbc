from pathlib import Path

from arseg.data.corpus.check import check_corpus, check_usable, split_gaps
from arseg.data.corpus.table import read_clips, select_categories
from arseg.io import atomic
from arseg.rule_io import logged

with logged(snakemake):
    table = Path(snakemake.input.clips)
    clips = select_categories(read_clips(table, split_seed=snakemake.params.split_seed), snakemake.params.categories)
    accepted, rejected = check_corpus(clips, table.parent, snakemake.params.sample_rate,
                                      out_audio=snakemake.output.audio, table_path=table)
    print(f"{len(accepted)} clips accepted, {len(rejected)} rejected")
    check_usable(accepted, rejected, table)
    atomic.write_tsv(snakemake.output.rejected, rejected)
    atomic.write_tsv(snakemake.output.clips, accepted)
    for gap in split_gaps(accepted):
        print(f"note: {gap}")
