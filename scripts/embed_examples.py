from arseg.data.corpus.table import read_clips
from arseg.infer.encode import embed_clips
from arseg.rule_io import logged

with logged(snakemake):
    bank = embed_clips(read_clips(snakemake.input.clips), snakemake.input.audio, snakemake.input.encoder,
                       snakemake.params.sample_rate, snakemake.params.window)
    bank.save(snakemake.output.examples)
    print(f"{len(bank.clip_ids)} clips embedded")
