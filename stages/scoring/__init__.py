"""Numbers about summaries: ROUGE as the field reports it in three reference modes (rouge), bootstrap intervals
and paired tests over dialogues (stats), prediction and reference files checked row by row (records), what
each model cost, gathered from the train and generate metrics (costs), the extractive baselines every model must
beat (baselines), and how many different summaries a model wrote (diversity)."""
