from pathlib import Path

from arseg.data.sounddescs import fetch_metadata, require_licence
from arseg.io.digest import file_sha256
from arseg.rule_io import logged

with logged(snakemake):
    # descriptions and audio are the BBC's: nothing is fetched before the licence is accepted
    require_licence(snakemake.params.accept_licence.value)
    network = snakemake.params.network.value
    paths = fetch_metadata(Path(snakemake.output.categories).parent, data_base_url=snakemake.params.data_base_url,
                           splits_base_url=snakemake.params.splits_base_url, sha256=snakemake.params.sha256,
                           **network)
    for name, path in sorted(paths.items()):
        print(f"{name}: {path.stat().st_size} bytes, sha256 {file_sha256(path)}")
    print("pin any digest above under corpus.sounddescs.metadata.sha256 to check later fetches")
