"""What people read: metrics/report.md and which numbers are DVC metrics versus detail files (report), the
self-contained summaries page metrics/summaries.html (page), and the charts with their data for `dvc plots`
(plots). Written by the evaluate stage."""
