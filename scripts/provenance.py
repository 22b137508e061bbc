from arseg.report.tables import write_provenance
from arseg.rule_io import logged

with logged(snakemake):
    write_provenance(snakemake.input.metrics, snakemake.params.config, tsv=snakemake.output.models,
                     config_json=snakemake.output.config, html_path=snakemake.output.html)
