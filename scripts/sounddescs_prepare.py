from pathlib import Path

from arseg.data.sounddescs import missing_downloads, prepare_clips, read_clip_table, shard_ids
from arseg.io.atomic import write_tsv
from arseg.rule_io import logged

with logged(snakemake):
    shard, n_shards = int(snakemake.wildcards.shard), snakemake.params.n_shards
    table = read_clip_table(snakemake.input.table)
    ids = set(shard_ids(table.clip_id, n_shards)[shard])
    missing = missing_downloads(snakemake.input.manifest, snakemake.params.raw_dir)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} clip(s) of shard {shard} are listed as downloaded in {snakemake.input.manifest} but "
            f"missing from {snakemake.params.raw_dir} (e.g. {missing[:3]}); fetch them again by adding "
            f"`--forcerun sounddescs_download` to the command (finished clips are not fetched again)")
    Path(snakemake.output.audio).mkdir(parents=True, exist_ok=True)
    excerpts, skipped = prepare_clips(table[table.clip_id.isin(ids)], snakemake.params.raw_dir,
                                      snakemake.output.audio, sample_rate=snakemake.params.sample_rate,
                                      excerpt=snakemake.params.excerpt)
    write_tsv(snakemake.output.skipped, skipped)
    write_tsv(snakemake.output.excerpts, excerpts)
    print(f"shard {shard}: {len(ids)} sources -> {len(excerpts)} excerpts, {len(skipped)} skipped")
    if len(skipped):
        print(skipped.to_string())
