"""Numbers about summaries: ROUGE as the field reports it in three reference modes (rouge), bootstrap intervals
and paired tests over dialogues (stats), prediction and reference files checked row by row (records), and what
each model cost, gathered from the train and generate metrics (costs)."""
