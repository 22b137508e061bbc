from arseg import atomic
from arseg.corpus.check import check_corpus
from arseg.corpus.table import read_clips
from arseg.mixtures import select_categories
from arseg.rule_io import logged

with logged(snakemake):
    clips = select_categories(read_clips(snakemake.input.clips), snakemake.params.categories)
    accepted, rejected = check_corpus(clips, snakemake.input.audio, snakemake.params.sample_rate)
    atomic.write_tsv(snakemake.output.rejected, rejected)
    atomic.write_tsv(snakemake.output.clips, accepted)
    print(f"{len(accepted)} clips accepted, {len(rejected)} rejected")
    if accepted.empty:
        raise SystemExit(f"{snakemake.input.clips}: no usable clip; see {snakemake.output.rejected}")
