from pathlib import Path

from arseg.data.sounddescs import check_downloads, prepare_clips, read_clip_table, shard_clip_ids
from arseg.io.atomic import write_tsv
from arseg.rule_io import logged

with logged(snakemake):
    shard, n_shards = int(snakemake.wildcards.shard), snakemake.params.n_shards
    table = read_clip_table(snakemake.input.table)
    ids = set(shard_clip_ids(table.clip_id, shard, n_shards))
    check_downloads(snakemake.input.manifest, snakemake.params.raw_dir, shard)
    Path(snakemake.output.audio).mkdir(parents=True, exist_ok=True)
    excerpts, skipped = prepare_clips(table[table.clip_id.isin(ids)], snakemake.params.raw_dir,
                                      snakemake.output.audio, sample_rate=snakemake.params.sample_rate,
                                      excerpt=snakemake.params.excerpt)
    write_tsv(snakemake.output.skipped, skipped)
    write_tsv(snakemake.output.excerpts, excerpts)
    print(f"shard {shard}: {len(ids)} sources -> {len(excerpts)} excerpts, {len(skipped)} skipped")
    if len(skipped):
        print(skipped.to_string())
