from arseg.rule_io import logged
from arseg.tables import results_table, write_table

with logged(snakemake):
    table = results_table(snakemake.input.metrics)
    write_table(table, tsv=snakemake.output.tsv, markdown=snakemake.output.markdown)
    print(table.to_string())
