"""What people read: metrics/report.md and which numbers are DVC metrics versus detail files (report), the
self-contained summaries page metrics/summaries.html (page), the charts with their data for `dvc plots`
(plots), what the results allow one to say in words (verdicts) and where a run comes from (provenance). Written
by the evaluate stage; stages.compare uses the verdicts."""
