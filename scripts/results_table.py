from arseg.eval.compare import compare_backbones, read_per_query
from arseg.report import tables
from arseg.rule_io import logged

with logged(snakemake):
    out = snakemake.output
    main = tables.results_table(snakemake.input.metrics)
    tables.write_table(main, tsv=out.tsv, markdown=out.markdown, latex=out.latex, html_path=out.html, rst=out.rst)
    per_category = tables.category_table(snakemake.input.metrics)
    tables.write_display(tables.category_display(per_category), per_category, out.category_tsv,
                         out.category_markdown, out.category_latex, out.category_html)
    conditions = tables.condition_table(snakemake.input.metrics)
    tables.write_display(tables.condition_display(conditions), conditions, out.conditions_tsv,
                         out.conditions_markdown, out.conditions_latex, out.conditions_html)
    comparison = compare_backbones(read_per_query(snakemake.input.queries), backbones=snakemake.params.backbones,
                                   n_boot=snakemake.params.bootstrap_samples)
    tables.write_display(tables.comparison_display(comparison), comparison, out.comparison_tsv,
                         out.comparison_markdown, out.comparison_latex, out.comparison_html)
    print(main.to_string())
    print(comparison.to_string())
