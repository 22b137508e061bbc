import shutil

from arseg.data.sounddescs import download_shard, read_clip_table, shard_clip_ids
from arseg.io.atomic import atomic_path
from arseg.rule_io import logged

with logged(snakemake):
    shard, n_shards = int(snakemake.wildcards.shard), snakemake.params.n_shards
    ids = shard_clip_ids(read_clip_table(snakemake.input.table).clip_id, shard, n_shards)
    print(f"shard {shard} of {n_shards}: {len(ids)} clips -> {snakemake.params.raw_dir}")
    # the manifest is a log (kept if the job fails, e.g. too many failed clips), copied on success
    manifest = download_shard(ids, snakemake.params.raw_dir, snakemake.log.manifest,
                              accept_licence=snakemake.params.accept_licence.value,
                              **snakemake.params.download.value)
    print(manifest.status.value_counts().to_string())
    with atomic_path(snakemake.output.manifest) as tmp:
        shutil.copyfile(snakemake.log.manifest, tmp)
